/**
 * Source-port capacity, pure: how many concurrent flows one node can hold to one target
 * address:port. The status (node-status.ts), the metrics and doctor all read it from here.
 */

/**
 * Source ports one node address can use towards one target address:port. Masquerade (without
 * --to-ports) picks source ports from 1024-65535 for unprivileged client ports, and the NATed
 * tuple (node address, port, target, target port) must be unique, so this is the ceiling of
 * concurrent flows to one target per node address, whatever ip_local_port_range says (that range
 * is for the node's own sockets: with it shrunk to 40000-40005 in a node namespace, fully-random
 * masquerade still picked ports from 9051 to 50639). Masquerade takes one address (the outgoing
 * interface's primary), so the ceiling is per node; more rules do not raise it, more instances do.
 */
export const NAT_PORTS_PER_ADDRESS = 65535 - 1024 + 1

/** Flows a target may hold at once from a node with `addresses` source addresses on its way out. */
export function sourcePortCeiling(addresses = 1): number {
  return NAT_PORTS_PER_ADDRESS * Math.max(1, addresses)
}

/** Share of the source-port ceiling above which doctor warns, and fails (new flows then fail). */
export const SOURCE_PORT_WARN = 0.8
export const SOURCE_PORT_FAIL = 0.95

/** Share of the ceiling in use (0..1+): doctor warns above SOURCE_PORT_WARN. */
export function sourcePortUsage(flows: number, ceiling = sourcePortCeiling()): number {
  return flows / ceiling
}
