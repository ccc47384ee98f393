/**
 * What `POST /reload` on the control socket answers, shared by the daemon (which builds it with
 * `diffConfigs`, src/reconcile/config-diff.ts) and `fwdctl reload` (which prints it). A leaf module.
 *
 * - 200 `{ ok: true, changes }`: the new config is in force, except what `changes.restartNeeded`
 *   names (fwdctl exits 3 then, and says so).
 * - 422 `{ ok: false, error }`: rejected; the last good config and rules stay in force (exit 1).
 * A daemon older than this reply answers `{ ok: true }` alone; fwdctl then says it was reloaded
 * without a summary.
 */

export interface ConfigChanges {
  listeners: { added: string[]; removed: string[]; changed: string[] }
  /** `listener: host:port` (or the IP Group id) per target spec added or removed. */
  targets: { added: string[]; removed: string[] }
  /** Other settings that changed and apply now, as dotted paths: `sources`, `sync.resyncSeconds`... */
  settings: string[]
  /** One sentence each for what waits for a restart of fwdd, e.g. the health server's address. */
  restartNeeded: string[]
}

export type ReloadReply = { ok: true; changes?: ConfigChanges } | { ok: false; error: string }

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string')
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Whether `v` is a `ConfigChanges` (every list present and of strings). */
export function isConfigChanges(v: unknown): v is ConfigChanges {
  if (!isObj(v) || !isObj(v.listeners) || !isObj(v.targets)) return false
  return isStrings(v.listeners.added) && isStrings(v.listeners.removed) && isStrings(v.listeners.changed) &&
    isStrings(v.targets.added) && isStrings(v.targets.removed) && isStrings(v.settings) && isStrings(v.restartNeeded)
}

/** Whether `v` is a `ReloadReply`. */
export function isReloadReply(v: unknown): v is ReloadReply {
  if (!isObj(v)) return false
  if (v.ok === false) return typeof v.error === 'string'
  return v.ok === true && (v.changes === undefined || isConfigChanges(v.changes))
}

/** True when nothing changed at all. */
export function isUnchanged(c: ConfigChanges): boolean {
  return [c.listeners.added, c.listeners.removed, c.listeners.changed, c.targets.added, c.targets.removed, c.settings, c.restartNeeded].every((l) => l.length === 0)
}

/** One log/print line per change, for the daemon's `config reloaded` entry and for fwdctl. */
export function describeChanges(c: ConfigChanges): string[] {
  const lines: string[] = []
  const each = (word: string, list: string[]): void => { for (const x of list) lines.push(`${word} ${x}`) }
  each('listener added:', c.listeners.added)
  each('listener removed:', c.listeners.removed)
  each('listener changed:', c.listeners.changed)
  each('target added:', c.targets.added)
  each('target removed:', c.targets.removed)
  each('setting changed:', c.settings)
  each('waits for a restart:', c.restartNeeded)
  return lines
}
