/**
 * Parses one line of `conntrack -E -o timestamp,id` into what passive health needs: the event's
 * type and TCP state, whether the reply direction was seen, the target (the reply direction's
 * source: the original destination after DNAT), the listener port (the original destination port)
 * and the time conntrack received the event. Pure; a line that is not an event gives null, so
 * conntrack's own chatter on stdout never reaches the tracker.
 */

/** One conntrack event of a forwarded flow. */
export interface ConntrackEvent {
  type: 'new' | 'update' | 'destroy'
  proto: 'tcp' | 'udp'
  /** The TCP state (`SYN_SENT`, `SYN_RECV`, `ESTABLISHED`, `CLOSE`...); null for udp. */
  state: string | null
  /** True while conntrack has seen no packet in the reply direction ([UNREPLIED]). */
  unreplied: boolean
  /** conntrack's flow id: ties a flow's events together. */
  id: string
  /** The target: reply source address and port (the original destination after DNAT). */
  target: { address: string; port: number }
  /** The port the client connected to on the node: which listener the flow came in on. */
  listenerPort: number
  /** When conntrack received the event, ms since the epoch (`-o timestamp`); null without a stamp. */
  atWallMs: number | null
}

const TYPES: Record<string, ConntrackEvent['type']> = { NEW: 'new', UPDATE: 'update', DESTROY: 'destroy' }

/**
 * One pass over the line (this runs for every new flow at thousands a second): stamp, type,
 * protocol, state, the original direction's destination port, [UNREPLIED], the reply direction's
 * source address and port, and the id at the end. Accounting fields (`packets= bytes=`, fwdd turns
 * nf_conntrack_acct on) may follow each direction's ports.
 */
const EVENT = /^\s*(?:\[(\d+)\.(\d{1,9})\]\s+)?\[(NEW|UPDATE|DESTROY)\]\s+(tcp|udp)\s+\d+\s+(?:\d+\s+)?(?:([A-Z_]+)\s+)?src=\S+ dst=\S+ sport=\d+ dport=(\d+) (?:packets=\d+ bytes=\d+ )?(\[UNREPLIED\] )?src=(\S+) dst=\S+ sport=(\d+) .* id=(\d+)\s*$/

/** The event in a line of `conntrack -E` output, or null when the line is not a tcp/udp event. */
export function parseConntrackEvent(line: string): ConntrackEvent | null {
  const m = EVENT.exec(line)
  if (!m) return null
  const proto = m[4] as 'tcp' | 'udp'
  return {
    type: TYPES[m[3]!]!,
    proto,
    state: proto === 'tcp' ? (m[5] ?? null) : null,
    unreplied: m[7] !== undefined,
    id: m[10]!,
    target: { address: m[8]!, port: Number(m[9]) },
    listenerPort: Number(m[6]),
    atWallMs: m[1] === undefined ? null : Number(m[1]) * 1000 + Number(`0.${m[2]!}`) * 1000,
  }
}

/**
 * What conntrack prints on stderr when the kernel dropped events (its netlink socket overran):
 * from then on some flows' answers are unknown, so passive verdicts cannot be trusted.
 */
export function isEventLoss(stderrLine: string): boolean {
  return /ENOBUFS|No buffer space available|losing events|resync/i.test(stderrLine)
}
