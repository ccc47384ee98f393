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

/** The event in a line of `conntrack -E` output, or null when the line is not a tcp/udp event. */
export function parseConntrackEvent(line: string): ConntrackEvent | null {
  const m = /^\s*(?:\[(\d+)\.(\d{1,9})\]\s+)?\[(NEW|UPDATE|DESTROY)\]\s+(tcp|udp)\s+\d+\s+(?:\d+\s+)?(?:([A-Z_]+)\s+)?(.*)$/.exec(line)
  if (!m) return null
  const rest = m[6]!
  const id = / id=(\d+)/.exec(rest)?.[1]
  const srcs = [...rest.matchAll(/\bsrc=(\S+)/g)].map((x) => x[1]!)
  const sports = [...rest.matchAll(/\bsport=(\d+)/g)].map((x) => Number(x[1]))
  const dports = [...rest.matchAll(/\bdport=(\d+)/g)].map((x) => Number(x[1]))
  if (id === undefined || srcs.length < 2 || sports.length < 2 || dports.length < 1) return null
  const proto = m[4] as 'tcp' | 'udp'
  const atWallMs = m[1] === undefined ? null : Number(m[1]) * 1000 + Number(`0.${m[2]!}`) * 1000
  return {
    type: TYPES[m[3]!]!,
    proto,
    state: proto === 'tcp' ? (m[5] ?? null) : null,
    unreplied: rest.includes('[UNREPLIED]'),
    id,
    target: { address: srcs[1]!, port: sports[1]! },
    listenerPort: dports[0]!,
    atWallMs,
  }
}

/**
 * What conntrack prints on stderr when the kernel dropped events (its netlink socket overran):
 * from then on some flows' answers are unknown, so passive verdicts cannot be trusted.
 */
export function isEventLoss(stderrLine: string): boolean {
  return /ENOBUFS|No buffer space available|losing events|resync/i.test(stderrLine)
}
