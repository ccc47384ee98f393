/**
 * Likely mistakes in a config that is valid (issue 14 item 7): `fwdd --check` prints them as
 * `PATH:LINE:COL: warning: field: message` and still exits 0, so existing configs keep loading.
 * Runs on the raw object of a config that passed every check, so paths match what the user wrote.
 */
import type { RawProblem } from './semantic.js'

type Raw = Record<string, unknown>
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Returns the warnings of a valid raw config, in listener order. */
export function configWarnings(raw: Raw): RawProblem[] {
  const out: RawProblem[] = []
  const listeners = Array.isArray(raw.listeners) ? raw.listeners : []
  listeners.forEach((l: unknown, i) => {
    if (!isObject(l)) return
    const check = isObject(l.check) ? l.check : {}
    if (l.protocol === 'udp' && check.port === undefined) {
      out.push({ path: ['listeners', i, 'protocol'], message: 'a udp listener without check.port is never health-checked: every target stays in rotation even when it is down; add check.port (a TCP port on the targets)' })
    }
    const interval = typeof check.intervalMs === 'number' ? check.intervalMs : 1000
    const timeout = typeof check.timeoutMs === 'number' ? check.timeoutMs : 1000
    if (timeout > interval && timeout <= interval * 5) {
      out.push({ path: ['listeners', i, 'check', check.timeoutMs !== undefined ? 'timeoutMs' : 'intervalMs'], message: `timeoutMs (${timeout}) is longer than intervalMs (${interval}): checks overlap and a failure is seen late; make timeoutMs at most intervalMs` })
    }
    const seen = new Map<string, number>()
    const targets = Array.isArray(l.targets) ? l.targets : []
    targets.forEach((t: unknown, j) => {
      if (!isObject(t)) return
      const key = `${String(t.host ?? t.ipGroup)}:${String(t.port)}`
      const first = seen.get(key.toLowerCase())
      if (first !== undefined) out.push({ path: ['listeners', i, 'targets', j], message: `${key} is already listeners.${i}.targets.${first}; a duplicate only doubles its share of traffic, use weight for that` })
      else seen.set(key.toLowerCase(), j)
    })
    if (targets.length === 1 && l.whenAllDown === 'all') {
      out.push({ path: ['listeners', i, 'whenAllDown'], message: 'whenAllDown: all with a single target sends traffic to it even when it is down; it only matters with two or more targets' })
    }
  })
  return out
}
