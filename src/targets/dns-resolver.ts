/**
 * Keeps DNS-name targets resolved. Each name is re-resolved when its record's TTL runs out (clamped
 * to [minTtl, maxTtl] so a TTL of 0 cannot hammer the resolver and a TTL of a day cannot pin a dead
 * address). On failure the last good addresses are kept and the error is reported; a name that has
 * never resolved has no addresses (its listener then has no target from it).
 */
import { promises as dns } from 'node:dns'
import { isIpv4 } from '../config/addresses.js'
import { systemClock, type Clock } from '../clock.js'

/** What is known about one name: the last good addresses (sorted), and the last error if any. */
export interface Resolution {
  addresses: string[]
  error: string | null
  resolvedAt: number | null
}

/** Resolves a name to IPv4 addresses and the smallest TTL among them; rejects when it cannot. */
export type ResolveFn = (name: string) => Promise<{ addresses: string[]; ttlSeconds: number }>

/** Resolves A records with their TTL; falls back to the system resolver (hosts file) when DNS has none. */
export const systemResolve: ResolveFn = async (name) => {
  try {
    const records = await new dns.Resolver({ timeout: 2000, tries: 2 }).resolve4(name, { ttl: true })
    return { addresses: records.map((r) => r.address), ttlSeconds: Math.min(...records.map((r) => r.ttl)) }
  } catch (err: unknown) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : ''
    if (code !== 'ENOTFOUND' && code !== 'ENODATA') throw err
    const found = await dns.lookup(name, { family: 4, all: true })
    return { addresses: found.map((f) => f.address), ttlSeconds: 30 }
  }
}

/** Bounds of the re-resolution period. */
export interface DnsOptions {
  minTtlSeconds: number
  maxTtlSeconds: number
  /** Retry period after a failure. */
  retrySeconds: number
}

/** The defaults the daemon uses. */
export const DEFAULT_DNS_OPTIONS: DnsOptions = { minTtlSeconds: 5, maxTtlSeconds: 300, retrySeconds: 5 }

interface Entry {
  resolution: Resolution
  timer: unknown
}

/** Tracks a set of names; `onChange` fires when a name's address set changes or its error does. */
export class DnsResolver {
  private readonly entries = new Map<string, Entry>()
  private stopped = false

  constructor(
    private readonly resolve: ResolveFn,
    private readonly onChange: (name: string) => void,
    private readonly options: DnsOptions = DEFAULT_DNS_OPTIONS,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Tracks exactly these names (IPv4 literals are ignored); resolves new ones now. */
  async setNames(names: Iterable<string>): Promise<void> {
    const wanted = new Set([...names].filter((n) => !isIpv4(n)))
    for (const [name, e] of this.entries) {
      if (!wanted.has(name)) {
        if (e.timer !== null) this.clock.clearTimeout(e.timer)
        this.entries.delete(name)
      }
    }
    const fresh = [...wanted].filter((n) => !this.entries.has(n))
    for (const n of fresh) this.entries.set(n, { resolution: { addresses: [], error: null, resolvedAt: null }, timer: null })
    await Promise.all(fresh.map((n) => this.refresh(n, false)))
  }

  /** What is known about a tracked name; undefined for a name not tracked. */
  get(name: string): Resolution | undefined {
    return this.entries.get(name)?.resolution
  }

  /** Stops every timer; a resolution in flight is dropped. Final. */
  stop(): void {
    this.stopped = true
    for (const e of this.entries.values()) if (e.timer !== null) this.clock.clearTimeout(e.timer)
  }

  private async refresh(name: string, notify: boolean): Promise<void> {
    const entry = this.entries.get(name)
    if (!entry || this.stopped) return
    let next: Resolution
    let delay: number
    try {
      const r = await this.resolve(name)
      const addresses = [...new Set(r.addresses)].sort()
      next = { addresses, error: addresses.length === 0 ? 'no A records' : null, resolvedAt: this.clock.now() }
      if (addresses.length === 0) next.addresses = entry.resolution.addresses
      delay = Math.min(this.options.maxTtlSeconds, Math.max(this.options.minTtlSeconds, r.ttlSeconds))
    } catch (err: unknown) {
      const code = err instanceof Error && 'code' in err ? String(err.code) : err instanceof Error ? err.message : String(err)
      next = { addresses: entry.resolution.addresses, error: `resolving ${name} failed (${code}); ${entry.resolution.addresses.length > 0 ? 'keeping the last good addresses' : 'no address known yet'}`, resolvedAt: entry.resolution.resolvedAt }
      delay = this.options.retrySeconds
    }
    // Removed or stopped while resolving: arm no timer for it.
    if (this.stopped || this.entries.get(name) !== entry) return
    const changed = next.addresses.join(',') !== entry.resolution.addresses.join(',') || next.error !== entry.resolution.error
    entry.resolution = next
    const timer = this.clock.setTimeout(() => {
      entry.timer = null
      void this.refresh(name, true)
    }, delay * 1000)
    ;(timer as { unref?: () => void } | null)?.unref?.()
    entry.timer = timer
    if (changed && notify) this.onChange(name)
  }
}
