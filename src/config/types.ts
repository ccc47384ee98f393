/**
 * The validated configuration, as the rest of fwdd sees it. Produced only by `loadConfig` /
 * `parseConfig` (src/config/load.ts), so every value here has passed the JSON Schema and the
 * semantic checks: defaults are filled in and addresses are well formed.
 */

/** A CIDR or single IPv4 address written in `sources`, normalised to `a.b.c.d/len`. */
export type SourceCidr = { kind: 'cidr'; cidr: string }

/** A source that expands to the NAT IPs of an Azure Private Link Service (issue "Azure integration"). */
export type SourcePrivateLinkService = { kind: 'privateLinkService'; resourceId: string }

export type SourceSpec = SourceCidr | SourcePrivateLinkService

/** A target written as an IPv4 address or a DNS name (re-resolved on its TTL). */
export interface HostTargetSpec {
  kind: 'host'
  host: string
  port: number
  weight: number
  /** Optional label (`<listener>/<name>`) in metrics and status instead of the config position. */
  name?: string
}

/** A target that expands to every address in an Azure IP Group, on one port. */
export interface IpGroupTargetSpec {
  kind: 'ipGroup'
  resourceId: string
  port: number
  weight: number
  name?: string
}

export type TargetSpec = HostTargetSpec | IpGroupTargetSpec

export type Protocol = 'tcp' | 'udp'

/** What a listener does when no target is healthy. */
export type WhenAllDown = 'reject' | 'all'

export interface CheckSpec {
  intervalMs: number
  timeoutMs: number
  fall: number
  rise: number
  /**
   * TCP port to check instead of the target's own port. For udp listeners this is the only way to
   * health-check; a udp listener without it keeps every target in rotation (state `unknown`).
   */
  port?: number
}

/**
 * Passive health of a listener's targets (issue 17): fwdd watches the conntrack events of its own
 * forwarded flows; `fall` consecutive failures (a SYN unanswered after its threshold, or answered
 * by a reset), or `resetFall` when the latest is a reset, eject the target at once. The threshold
 * is learned from the target's answer times, within [`minUnansweredMs`, `unansweredMs`]. It comes
 * back after its ejection time (`baseEjectionMs` times the number of recent ejections, at most
 * `maxEjectionMs`) and then `check.rise` active successes. At most `maxEjectionPercent` of the listener's targets are ejected at once.
 */
export interface PassiveSpec {
  enabled: boolean
  unansweredMs: number
  /** The least threshold learned from the target's answer times (flow-tracker.ts); = unansweredMs: none learned. */
  minUnansweredMs: number
  fall: number
  /** Consecutive failures that eject when the latest is a reset (the target refused the SYN); at most `fall` counts. */
  resetFall: number
  baseEjectionMs: number
  maxEjectionMs: number
  maxEjectionPercent: number
  /**
   * At most this many new flows a second of the listener are judged; the kernel gives the rest an
   * event mask that reports nothing (render.ts eventMaskRules), so the watcher's cost is bounded by
   * listeners x this, not by the traffic.
   */
  maxFlowsPerSecond: number
}

export interface ListenerSpec {
  name: string
  protocol: Protocol
  port: number
  targets: TargetSpec[]
  check: CheckSpec
  whenAllDown: WhenAllDown
  /** Filled in by the loader (on for tcp, off for udp); absent (hand-built specs) means off. */
  passive?: PassiveSpec
}

export interface HealthSpec {
  port: number
  address: string
  /**
   * Addresses whose connections and requests the health port never limits, besides the Azure LB
   * probe's 168.63.129.16 and loopback (the health extension): e.g. another load balancer's probe.
   */
  probeSources: string[]
}

/**
 * Where `/metrics` is served. Absent: on the health port, as before. Present: on its own address
 * and port (address default 127.0.0.1, port default 9180), and no longer on the health
 * port, which faces the network.
 */
export interface MetricsSpec {
  port: number
  address: string
}

export interface AzureSpec {
  identityClientId?: string
  refreshSeconds: number
  /** Drain on Azure Scheduled Events (Terminate, Reboot, Redeploy, Preempt); absent means on. */
  scheduledEvents?: boolean
}

/** How the reconcile loop paces itself (fwdd extension; both keys optional). */
export interface SyncSpec {
  /** Period of the full resync that compares the kernel with the desired rules. Default 10. */
  resyncSeconds: number
  /** Minimum time between two syncs, so bursts of health changes collapse. Default 50. */
  minIntervalMs: number
}

/** Which kernel interface writes the rules (fwdd extension). Default iptables. */
export interface DataplaneSpec {
  backend: 'iptables' | 'nftables'
}

export interface Config {
  health: HealthSpec
  metrics?: MetricsSpec
  sync: SyncSpec
  /** Absent means the default, `{ backend: 'iptables' }`. */
  dataplane?: DataplaneSpec
  /** Empty means anyone may use the forwarded ports. */
  sources: SourceSpec[]
  listeners: ListenerSpec[]
  azure?: AzureSpec
}

/** One problem found in a config, with where it is (1-based line and column) and how to fix it. */
export interface ConfigProblem {
  file: string
  line: number
  col: number
  /** Dotted path, e.g. `listeners.0.targets.1.port` (0-based indexes, as in the YAML). */
  path: string
  message: string
}
