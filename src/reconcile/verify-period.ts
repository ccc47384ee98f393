/**
 * How long to wait between full verifies. The periodic verify is the backstop of the ruleset watch
 * (which repairs a change by another tool at once), and on a large node it is not cheap: at 10,000
 * listeners it reads the whole table, 1.01 s on nftables (`nft -s list table` prints 1.6 MB) and
 * 0.53 s on iptables (three `iptables-save`): the verify column of bench/results/2026-12-07d-curve.md.
 * Every 10 s that was a tenth of the node's time spent finding nothing. So the period is
 * `resyncSeconds`, stretched until verifying takes at most VERIFY_DUTY of the time: on small nodes
 * nothing changes.
 */

/** The largest share of wall time the periodic verify may take. */
export const VERIFY_DUTY = 0.05

/** Milliseconds from one periodic verify to the next, given the last full verify's duration. */
export function verifyPeriodMs(resyncSeconds: number, lastVerifyMs: number): number {
  return Math.max(resyncSeconds * 1000, Math.round(lastVerifyMs / VERIFY_DUTY))
}
