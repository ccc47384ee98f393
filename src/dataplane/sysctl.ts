/**
 * IP forwarding: the node forwards nothing without `net.ipv4.ip_forward=1`. fwdd turns it on when
 * it finds it off (and says so), and reports it in status and /health.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { FwdError } from '../errors.js'

export const IP_FORWARD_PATH = '/proc/sys/net/ipv4/ip_forward'

export async function readIpForwarding(path = IP_FORWARD_PATH): Promise<boolean> {
  try {
    return (await readFile(path, 'utf8')).trim() === '1'
  } catch (err: unknown) {
    throw new FwdError('FWD_ERR_SYSCTL', `reading ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}

/** Turns IP forwarding on; returns whether it was off before. */
export async function ensureIpForwarding(path = IP_FORWARD_PATH): Promise<{ wasOff: boolean }> {
  if (await readIpForwarding(path)) return { wasOff: false }
  try {
    await writeFile(path, '1\n')
  } catch (err: unknown) {
    throw new FwdError('FWD_ERR_SYSCTL', `turning on IP forwarding (${path}): ${err instanceof Error ? err.message : String(err)}; run sysctl -w net.ipv4.ip_forward=1`, { cause: err })
  }
  return { wasOff: true }
}

export const CONNTRACK_ACCT_PATH = '/proc/sys/net/netfilter/nf_conntrack_acct'

/**
 * Turns conntrack byte/packet accounting on: the iptables mode reads per-target bytes from it
 * instead of walking one rule per target for every packet. Best effort (false when it cannot).
 */
export async function ensureConntrackAccounting(path = CONNTRACK_ACCT_PATH): Promise<boolean> {
  try {
    if ((await readFile(path, 'utf8')).trim() === '1') return true
    await writeFile(path, '1\n')
    return true
  } catch {
    return false
  }
}
