/**
 * What a reload changes: the old config against the new one, and the new health server address
 * against the address the daemon actually bound (not the last config loaded: after a reload that
 * asked for port 8081 and one that asked for 8080 again, nothing waits for a restart). Pure; the
 * daemon logs the result and returns it on the control socket (src/control/reload-reply.ts).
 */
import type { Config, ListenerSpec, TargetSpec } from '../config/types.js'
import type { ConfigChanges } from '../control/reload-reply.js'

/** Where the health server listens now. */
export interface BoundAddress {
  address: string
  port: number
}

function targetText(listener: string, t: TargetSpec): string {
  const where = t.kind === 'host' ? `${t.host}:${t.port}` : `${t.resourceId} port ${t.port}`
  return `${listener}: ${where}${t.weight !== 1 ? ` weight ${t.weight}` : ''}${t.name ? ` (${t.name})` : ''}`
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** The listener's own settings that differ (targets are reported separately). */
function changedFields(a: ListenerSpec, b: ListenerSpec): string[] {
  const out: string[] = []
  if (a.protocol !== b.protocol) out.push(`protocol ${a.protocol} -> ${b.protocol}`)
  if (a.port !== b.port) out.push(`port ${a.port} -> ${b.port}`)
  if (a.whenAllDown !== b.whenAllDown) out.push(`whenAllDown ${a.whenAllDown} -> ${b.whenAllDown}`)
  if (!same(a.check, b.check)) out.push('check')
  // Order counts: a target's label is its position, so a reorder is a change even with the same set.
  if (!same(a.targets.map((t) => targetText(a.name, t)), b.targets.map((t) => targetText(b.name, t)))) out.push('targets')
  return out
}

/**
 * Compares `old` and `next` (both validated) and the bound health address. Lists are in the order
 * of the new config (removed ones in the old config's order); a listener is "changed" when its
 * protocol, port, whenAllDown, check or targets differ, with the fields named:
 * `onprem-http (port 8000 -> 8001, targets)`. Target specs are compared as written (a DNS name's
 * answers are not config). `restartNeeded` is empty when `next.health` equals `bound`.
 */
export function diffConfigs(old: Config, next: Config, bound: BoundAddress): ConfigChanges {
  const oldByName = new Map(old.listeners.map((l) => [l.name, l]))
  const newByName = new Map(next.listeners.map((l) => [l.name, l]))
  const changes: ConfigChanges = { listeners: { added: [], removed: [], changed: [] }, targets: { added: [], removed: [] }, settings: [], restartNeeded: [] }
  for (const l of next.listeners) {
    const before = oldByName.get(l.name)
    if (!before) {
      changes.listeners.added.push(`${l.name} (${l.protocol}/${l.port})`)
      continue
    }
    const fields = changedFields(before, l)
    if (fields.length > 0) changes.listeners.changed.push(`${l.name} (${fields.join(', ')})`)
    const was = new Set(before.targets.map((t) => targetText(l.name, t)))
    const now = new Set(l.targets.map((t) => targetText(l.name, t)))
    for (const t of now) if (!was.has(t)) changes.targets.added.push(t)
    for (const t of was) if (!now.has(t)) changes.targets.removed.push(t)
  }
  for (const l of old.listeners) if (!newByName.has(l.name)) changes.listeners.removed.push(`${l.name} (${l.protocol}/${l.port})`)
  if (!same(old.sources, next.sources)) changes.settings.push('sources')
  if (old.sync.resyncSeconds !== next.sync.resyncSeconds) changes.settings.push('sync.resyncSeconds')
  if (old.sync.minIntervalMs !== next.sync.minIntervalMs) changes.settings.push('sync.minIntervalMs')
  if (!same(old.azure, next.azure)) changes.settings.push('azure')
  if (next.health.address !== bound.address || next.health.port !== bound.port) {
    changes.restartNeeded.push(`the health server listens on ${bound.address}:${bound.port}; the config's ${next.health.address}:${next.health.port} applies at the next restart (systemctl restart fwdd; forwarding goes on meanwhile)`)
  }
  return changes
}
