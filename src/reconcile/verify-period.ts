/**
 * How long to wait between full verifies. The periodic verify is the backstop of the ruleset watch
 * (which repairs a change by another tool at once), and on a large node it is not cheap: at 10,000
 * listeners it reads the whole table (nftables: `nft -s list table` prints 1.6 MB in about 1 s, and
 * parsing it costs the daemon as much again; iptables: 0.7 s for three `iptables-save`). Every 10 s
 * that was a fifth of a core spent finding nothing. So the period is `resyncSeconds`, stretched
 * until verifying takes at most VERIFY_DUTY of the time: on small nodes nothing changes.
 */

/** The largest share of wall time the periodic verify may take. */
export const VERIFY_DUTY = 0.05

/** Milliseconds from one periodic verify to the next, given the last full verify's duration. */
export function verifyPeriodMs(resyncSeconds: number, lastVerifyMs: number): number {
  return Math.max(resyncSeconds * 1000, Math.round(lastVerifyMs / VERIFY_DUTY))
}
