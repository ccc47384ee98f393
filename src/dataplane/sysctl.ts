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
