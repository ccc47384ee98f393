#!/usr/bin/env bash
# The fwdd lab: a spoke client, a forwarder node and two on-premises servers, each a network
# namespace on this machine, wired with veth pairs. Only 198.18.0.0/15 addresses, only inside the
# namespaces made here; nothing leaves this machine.
#
#   client  198.18.0.2 --- 198.18.0.1  node (fwdd) 198.18.1.1 --- 198.18.1.2  onprem-a (HTTP :80)
#   (the "spoke")                                    198.18.2.1 --- 198.18.2.2  onprem-b (HTTP :80)
#   outsider 198.18.100.2 --- 198.18.100.1 (a source outside the allow-list)
#
# Usage: sudo npm run lab                     set up and run the demo
#        sudo npm run lab -- down             remove every namespace, process and file it made
#        sudo npm run lab -- down-server NAME stop a server (onprem-a or onprem-b)
#        sudo npm run lab -- up-server NAME   start it again
#        sudo npm run lab -- ctl ARGS...      run fwdctl against the lab's daemon (or put
#                                             $STATE/bin on PATH and run fwdctl)
# FWDD_LAB_PREFIX (default fwlab) names the namespaces ($PREFIX-node, ...) and the state directory,
# so two people on one machine can each have a lab. `up` refuses when a lab of that prefix is up;
# `down` refuses to remove namespaces of that prefix that this script did not build.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
P=${FWDD_LAB_PREFIX:-fwlab}
[[ "$P" =~ ^[a-z0-9][a-z0-9-]{0,7}$ ]] || { echo "lab: FWDD_LAB_PREFIX must match [a-z0-9][a-z0-9-]{0,7}, not \"$P\"" >&2; exit 64; }
if [ "$P" = fwlab ]; then STATE=/run/fwdd-lab; else STATE=/run/fwdd-lab-$P; fi
MARK=$STATE/built-by-lab
NS_NODE=$P-node NS_CLIENT=$P-client NS_OUT=$P-outsider NS_A=$P-onprem-a NS_B=$P-onprem-b
ALL_NS="$NS_NODE $NS_CLIENT $NS_OUT $NS_A $NS_B"
NODE_BIN=$(command -v node)

die() { echo "lab: $*" >&2; exit 1; }

existing_ns() { for ns in $ALL_NS; do ip netns list | awk '{print $1}' | grep -qx "$ns" && echo "$ns"; done; true; }

# Refuses unless the namespaces of this prefix (if any) carry this script's mark.
owned_or_absent() {
  local found; found=$(existing_ns)
  [ -z "$found" ] && return 0
  [ -f "$MARK" ] && return 0
  die "refusing: namespaces $(echo $found) exist but $MARK does not, so this lab did not build them; remove them yourself (ip netns del NAME) or set FWDD_LAB_PREFIX to another prefix"
}

down() {
  owned_or_absent
  for f in "$STATE"/*.pid; do
    [ -e "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.2
  for f in "$STATE"/*.pid; do
    [ -e "$f" ] || continue
    kill -9 "$(cat "$f")" 2>/dev/null || true
  done
  for ns in $NS_NODE $NS_CLIENT $NS_OUT $NS_A $NS_B; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$STATE"
}

link() { # ns-a if-a addr-a ns-b if-b addr-b
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"; ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up; ip -n "$4" link set "$5" up
}

up() {
  [ "$(id -u)" = 0 ] || die "needs root for network namespaces: run sudo npm run lab"
  for bin in ip iptables conntrack curl; do command -v $bin >/dev/null || die "$bin is missing (apt-get install iproute2 iptables conntrack curl)"; done
  # Rebuild when any source is newer than the build (or there is none): the lab runs what src/ says.
  if [ ! -f "$ROOT/dist/bin/fwdd.js" ] || [ -n "$(find "$ROOT/src" -newer "$ROOT/dist/bin/fwdd.js" -print -quit)" ]; then
    echo "== building dist/ (src/ is newer)"; (cd "$ROOT" && npx tsc -p tsconfig.json) && touch "$ROOT/dist/bin/fwdd.js"
  fi
  [ -z "$(existing_ns)" ] || die "a lab with prefix $P is already up (namespaces $(echo $(existing_ns))); run: sudo npm run lab -- down (or set FWDD_LAB_PREFIX)"
  mkdir -p "$STATE/bin"
  echo "prefix=$P uid=${SUDO_UID:-$(id -u)} built=$(date -u +%FT%TZ)" >"$MARK"
  for ns in $ALL_NS; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  cat >"$STATE/bin/fwdctl" <<SH
#!/bin/sh
# fwdctl for the lab $P: runs in the node namespace against the lab daemon's socket.
exec ip netns exec $NS_NODE "$NODE_BIN" "$ROOT/dist/bin/fwdctl.js" --socket "$STATE/fwdd.sock" "\$@"
SH
  chmod 755 "$STATE/bin/fwdctl"
  link $NS_NODE to-client 198.18.0.1/24 $NS_CLIENT eth0 198.18.0.2/24
  link $NS_NODE to-outsider 198.18.100.1/24 $NS_OUT eth0 198.18.100.2/24
  link $NS_NODE to-a 198.18.1.1/24 $NS_A eth0 198.18.1.2/24
  link $NS_NODE to-b 198.18.2.1/24 $NS_B eth0 198.18.2.2/24
  ip -n $NS_CLIENT route add default via 198.18.0.1
  ip -n $NS_OUT route add default via 198.18.100.1
  ip -n $NS_A route add default via 198.18.1.1
  ip -n $NS_B route add default via 198.18.2.1

  start_server onprem-a
  start_server onprem-b

  cat >"$STATE/config.yaml" <<YAML
# fwdd lab config: the node forwards 198.18.0.1:8000 to the two on-premises servers.
health: { port: 8080 }
sources: [198.18.0.0/24]        # the spoke; 198.18.100.2 (outsider) is not allowed
sync: { resyncSeconds: 5 }
listeners:
  - name: onprem-http
    port: 8000
    check: { intervalMs: 300, timeoutMs: 300, fall: 2, rise: 2 }
    targets:
      - { host: 198.18.1.2, port: 80 }
      - { host: 198.18.2.2, port: 80 }
  - name: onprem-udp
    protocol: udp
    port: 5300
    targets:
      - { host: 198.18.1.2, port: 5353 }
      - { host: 198.18.2.2, port: 5353 }
YAML
  "$NODE_BIN" "$ROOT/dist/bin/fwdd.js" --check --config "$STATE/config.yaml"
  ip netns exec $NS_NODE "$NODE_BIN" "$ROOT/dist/bin/fwdd.js" --config "$STATE/config.yaml" \
    --socket "$STATE/fwdd.sock" --state-dir "$STATE/state" >"$STATE/fwdd.log" 2>&1 & echo $! >"$STATE/fwdd.pid"

  local ctl=("$STATE/bin/fwdctl")
  for _ in $(seq 1 100); do "${ctl[@]}" status >/dev/null 2>&1 && break; sleep 0.1; done
  "${ctl[@]}" status >/dev/null 2>&1 || { cat "$STATE/fwdd.log"; die "fwdd did not become ready"; }

  echo "== 20 requests from the spoke client to 198.18.0.1:8000 (the node):"
  local urls=(); for _ in $(seq 1 20); do urls+=(http://198.18.0.1:8000/); done
  ip netns exec $NS_CLIENT curl -sS -m 2 "${urls[@]}" | sort | uniq -c
  echo
  echo "== from the outsider (not in sources), refused:"
  ip netns exec $NS_OUT curl -sS -m 2 http://198.18.100.1:8000/ 2>&1 | sed 's/^/   /' || true
  echo
  echo "== fwdctl status:"
  "${ctl[@]}" status || true
  cat <<TXT

The lab is running. Things to try (as root), after: export PATH=$STATE/bin:\$PATH
  a request through the forwarder:   ip netns exec $NS_CLIENT curl -s http://198.18.0.1:8000/
  the daemon's view:                 fwdctl status     (or: sudo npm run lab -- ctl status)
  the rules it applied:              fwdctl rules
  what the Azure LB probe sees:      ip netns exec $NS_NODE curl -s http://127.0.0.1:8080/lb/onprem-http
  what the VMSS health extension sees: ip netns exec $NS_NODE curl -s http://127.0.0.1:8080/health
  take a server down (out in ~1 s): sudo npm run lab -- down-server onprem-a
  and bring it back:                 sudo npm run lab -- up-server onprem-a
  or black-hole it:                  ip netns exec $NS_A iptables -I INPUT -p tcp --dport 80 -j DROP
  cause drift (repaired in <= 5 s):  ip netns exec $NS_NODE iptables -t nat -F PREROUTING
  the daemon's log:                  tail -f $STATE/fwdd.log
Tear down: sudo npm run lab -- down
TXT
}

server_ns() { case "$1" in onprem-a) echo "$NS_A" ;; onprem-b) echo "$NS_B" ;; *) echo "lab: no server \"$1\"; the servers are onprem-a and onprem-b" >&2; exit 64 ;; esac; }

start_server() { # NAME
  local ns; ns=$(server_ns "$1")
  ip netns exec "$ns" "$NODE_BIN" "$ROOT/test/fixtures/echo-server.mjs" "$1" 80 5353 >>"$STATE/$1.log" 2>&1 & echo $! >"$STATE/$1.pid"
}

need_lab() { [ -f "$MARK" ] || die "no lab with prefix $P is up (no $MARK); start it: sudo npm run lab"; }

USAGE="usage: npm run lab [-- up | down | down-server NAME | up-server NAME | ctl ARGS...]"
cmd=${1:-up}; [ $# -gt 0 ] && shift
case "$cmd" in
  up) [ $# -eq 0 ] || { echo "$USAGE" >&2; exit 64; }; up ;;
  down) [ $# -eq 0 ] || { echo "$USAGE" >&2; exit 64; }; [ "$(id -u)" = 0 ] || die "needs root: sudo npm run lab -- down"; down; echo "lab $P removed" ;;
  down-server)
    [ $# -eq 1 ] || { echo "$USAGE" >&2; exit 64; }; server_ns "$1" >/dev/null; need_lab
    if [ -f "$STATE/$1.pid" ] && kill "$(cat "$STATE/$1.pid")" 2>/dev/null; then rm -f "$STATE/$1.pid"; echo "$1 stopped"; else echo "$1 was not running"; fi ;;
  up-server)
    [ $# -eq 1 ] || { echo "$USAGE" >&2; exit 64; }; server_ns "$1" >/dev/null; need_lab
    if [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; then echo "$1 is already running"; else start_server "$1"; echo "$1 started"; fi ;;
  ctl) need_lab; exec "$STATE/bin/fwdctl" "$@" ;;
  -h|--help|help) echo "$USAGE" ;;
  *) echo "$USAGE" >&2; exit 64 ;;
esac
