/**
 * The doctor line `passive-health`: whether passive health (the conntrack event watch that ejects
 * failing targets from their own traffic) is doing its job on this node, as the running daemon
 * reports it. Pure: the CLI hands in the daemon's `node.passive` (null when no daemon answered).
 */
import type { NodeStatus } from '../status.js'
import type { Verdict } from './verdict.js'

const CHECK = 'passive-health'

/** One verdict for the watch the daemon reports; null report: no daemon to ask (the line says so). */
export function passiveVerdict(report: NodeStatus['passive'] | null): Verdict {
  if (report === undefined) report = { mode: 'off', lostEvents: 0, reason: null }
  if (report === null) return { check: CHECK, ok: true, level: 'warn', detail: 'not checked: no daemon answered on the control socket', fix: 'start fwdd (see the control-socket line)' }
  const lost = report.lostEvents > 0 ? `; the kernel dropped events ${report.lostEvents} time(s) since start` : ''
  switch (report.mode) {
    case 'off':
      return { check: CHECK, ok: true, detail: 'off: no tcp listener uses passive health (active checks only)' }
    case 'watching':
      return { check: CHECK, ok: true, ...(lost ? { level: 'warn' as const, fix: 'at this flow rate some answers go unseen now and then; passive health pauses for 10 s after each loss' } : {}), detail: `watching fwdd's forwarded flows (conntrack -E, 3 events a flow)${lost}` }
    case 'fallback':
      return { check: CHECK, ok: true, level: 'warn', detail: `paused, active checks only: ${report.reason ?? 'the kernel dropped events'}${lost}`, fix: 'it resumes by itself 10 s after the last loss; if it keeps pausing, the node takes more new flows than the watch can read: add nodes' }
    case 'unavailable':
      return { check: CHECK, ok: false, detail: `not running, active checks only: ${report.reason ?? 'conntrack -E cannot run'}`, fix: 'install the conntrack package (the .deb depends on it) and check that the unit keeps CAP_NET_ADMIN; fwdd restarts the watch by itself' }
  }
}
