/**
 * The pure core: config + what is known about the world (DNS answers, Azure sets, target health,
 * drain) -> the targets of every listener, which of them are in rotation, the rule set input, and
 * the status object. No I/O and no clock, so every decision here is a table test.
 */
import { forbiddenTargetReason, isIpv4 } from '../config/addresses.js'
import type { Config, ListenerSpec } from '../config/types.js'
import type { RenderInput, RenderTarget } from '../dataplane/render.js'
import type { ListenerStatus, TargetState } from '../status.js'

/** One concrete target: a listener, an address and a port, with where it came from. */
export interface ResolvedTarget {
  key: string
  listener: string
  /** As written: an address, a DNS name, or an IP Group resource id. */
  host: string
  address: string
  port: number
  weight: number
  /** Stable label from the config (see `targetLabel`), the same on every node and after restarts. */
  label: string
  /** Why it has no address, or why its addresses are stale (resolver or Azure error). */
  sourceError: string | null
}

export interface WorldView {
  /** DNS name -> last good addresses and the resolver's error. */
  dns(name: string): { addresses: string[]; error: string | null } | undefined
  /** IP Group resource id -> last good addresses and the read error. */
  ipGroup(resourceId: string): { addresses: string[]; error: string | null } | undefined
  /** Private Link Service resource id -> last good NAT IPs. */
  privateLinkService(resourceId: string): { addresses: string[]; error: string | null } | undefined
}

export interface HealthView {
  state: TargetState
  since: number
  lastError: string | null
}

export function targetKey(listener: string, address: string, port: number): string {
  return `${listener}|${address}:${port}`
}

/**
 * The label of a target, from the config alone: `<listener>/<name>` when the target has a `name:`,
 * else `<listener>/<index in the listener's targets list>` (0-based). A DNS name or an IP Group
 * yields several addresses; each gets `-<k>`, k its position among them in numeric order, so the
 * same answer gives the same labels on every node. Never an address (the health port faces the
 * network).
 */
export function targetLabel(listener: string, index: number, name: string | undefined, addressIndex?: number): string {
  const base = `${listener}/${name ?? String(index)}`
  return addressIndex === undefined ? base : `${base}-${addressIndex}`
}

const numericOrder = (a: string, b: string): number => {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0)
  return 0
}

/**
 * Expands every listener's target specs to concrete targets, in config order; drops forbidden DNS
 * answers. An address:port named twice keeps the first entry (and its label).
 */
export function resolveTargets(config: Config, world: WorldView): Map<string, ResolvedTarget[]> {
  const out = new Map<string, ResolvedTarget[]>()
  for (const l of config.listeners) {
    const list: ResolvedTarget[] = []
    const seen = new Set<string>()
    const add = (host: string, address: string, port: number, weight: number, label: string, sourceError: string | null): void => {
      const key = targetKey(l.name, address, port)
      if (seen.has(key)) return
      seen.add(key)
      list.push({ key, listener: l.name, host, address, port, weight, label, sourceError })
    }
    l.targets.forEach((t, i) => {
      if (t.kind === 'host' && isIpv4(t.host)) {
        add(t.host, t.host, t.port, t.weight, targetLabel(l.name, i, t.name), null)
        return
      }
      const host = t.kind === 'host' ? t.host : t.resourceId
      const r = t.kind === 'host' ? world.dns(t.host) : world.ipGroup(t.resourceId)
      const addresses = [...new Set(r?.addresses ?? [])].sort(numericOrder)
      addresses.forEach((a, k) => {
        if (forbiddenTargetReason(a) === null) add(host, a, t.port, t.weight, targetLabel(l.name, i, t.name, k), r?.error ?? null)
      })
    })
    out.set(l.name, list)
  }
  return out
}

/** Whether fwdd can health-check the listener's targets (tcp, or udp with a tcp `check.port`). */
export function isCheckable(l: ListenerSpec): boolean {
  return l.protocol === 'tcp' || l.check.port !== undefined
}

/** The targets that get new connections: healthy ones; if none, per `whenAllDown`. */
export function rotationOf(l: ListenerSpec, targets: readonly ResolvedTarget[], health: (key: string) => HealthView | undefined): ResolvedTarget[] {
  if (!isCheckable(l)) return [...targets]
  const healthy = targets.filter((t) => health(t.key)?.state === 'healthy')
  if (healthy.length > 0) return healthy
  return l.whenAllDown === 'all' ? [...targets] : []
}

/** The allow-list as CIDRs: written ones plus the NAT IPs of Private Link Services (as /32). */
export function resolveSources(config: Config, world: WorldView): string[] {
  const out: string[] = []
  for (const s of config.sources) {
    if (s.kind === 'cidr') out.push(s.cidr)
    else for (const a of world.privateLinkService(s.resourceId)?.addresses ?? []) out.push(`${a}/32`)
  }
  return [...new Set(out)]
}

/**
 * The renderer's input. When the config names sources but none resolved (a Private Link Service
 * never read yet), the allow-list must not turn into "anyone": a sentinel that matches nothing
 * (0.0.0.0/32 cannot be a source on the wire) keeps the listeners closed.
 */
export function renderInputOf(config: Config, targets: Map<string, ResolvedTarget[]>, rotation: Map<string, ResolvedTarget[]>, sources: string[]): RenderInput {
  const closed = config.sources.length > 0 && sources.length === 0
  const toRender = (t: ResolvedTarget): RenderTarget => ({ address: t.address, port: t.port, weight: t.weight })
  return {
    sources: closed ? ['0.0.0.0/32'] : sources,
    listeners: config.listeners.map((l) => {
      const passive = l.protocol === 'tcp' && l.passive?.enabled === true
      return {
        name: l.name,
        protocol: l.protocol,
        port: l.port,
        rotation: (rotation.get(l.name) ?? []).map(toRender),
        known: (targets.get(l.name) ?? []).map(toRender),
        passive,
        ...(passive ? { sampleFlowsPerSecond: l.passive!.maxFlowsPerSecond } : {}),
      }
    }),
  }
}

export interface ListenerStatusInput {
  inSync: boolean
  draining: boolean
  health: (key: string) => HealthView | undefined
  counters?: (key: string) => { bytes: number; packets: number } | undefined
  connections?: (key: string) => number | undefined
  /** When the daemon started: the `since` of targets that were never checked (udp without a check). */
  startedAt?: number
}

/** Builds the listeners part of the status object. Serving = in sync, not draining, a healthy target. */
export function listenerStatuses(config: Config, targets: Map<string, ResolvedTarget[]>, rotation: Map<string, ResolvedTarget[]>, input: ListenerStatusInput): ListenerStatus[] {
  return config.listeners.map((l) => {
    const list = targets.get(l.name) ?? []
    const inRot = new Set((rotation.get(l.name) ?? []).map((t) => t.key))
    const checkable = isCheckable(l)
    const anyHealthy = checkable ? list.some((t) => input.health(t.key)?.state === 'healthy') : list.length > 0
    return {
      name: l.name,
      protocol: l.protocol,
      port: l.port,
      serving: input.inSync && !input.draining && anyHealthy,
      whenAllDown: l.whenAllDown,
      targets: list.map((t) => {
        const h = input.health(t.key)
        const c = input.counters?.(t.key)
        const conns = input.connections?.(t.key)
        return {
          host: t.host,
          label: t.label,
          address: t.address,
          port: t.port,
          state: h?.state ?? 'unknown',
          since: new Date(h?.since ?? input.startedAt ?? 0).toISOString(),
          lastError: h?.lastError ?? t.sourceError,
          inRotation: inRot.has(t.key),
          weight: t.weight,
          ...(c ? { bytes: c.bytes, packets: c.packets } : {}),
          ...(conns !== undefined ? { connections: conns } : {}),
        }
      }),
    }
  })
}
