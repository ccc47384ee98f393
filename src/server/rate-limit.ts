/**
 * A per-source token bucket for the daemon's HTTP servers. Pipelined requests are cheap to send and
 * each one costs the daemon's single event loop, so a client past its rate has its connection closed
 * (cheaper than answering 429 to a flood). Reserved sources (the Azure LB probe's address, loopback
 * for the health extension) are never limited. Time comes from the injected clock.
 */
import type { FastifyInstance } from 'fastify'
import type { Clock } from '../clock.js'

export interface RateLimit {
  /** Sustained requests per second per source. */
  perSecond: number
  /** Requests a source may send at once before the rate applies. */
  burst: number
  /** Sources never limited. */
  reserved?: readonly string[]
}

interface Bucket {
  tokens: number
  at: number
}

/** The bucket's decision for one request at `now` (pure: returns the new bucket). */
export function take(bucket: Bucket | undefined, limit: RateLimit, now: number): { ok: boolean; bucket: Bucket } {
  const b = bucket ?? { tokens: limit.burst, at: now }
  const tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.perSecond)
  if (tokens < 1) return { ok: false, bucket: { tokens, at: now } }
  return { ok: true, bucket: { tokens: tokens - 1, at: now } }
}

/** Installs the limit on `app`; returns how many requests it refused. */
export function limitRequests(app: FastifyInstance, limit: RateLimit, clock: Clock): { refused(): number } {
  const reserved = new Set(limit.reserved ?? [])
  const buckets = new Map<string, Bucket>()
  let refused = 0
  app.addHook('onRequest', async (request, reply) => {
    const source = request.socket.remoteAddress ?? 'local'
    if (reserved.has(source)) return
    const now = clock.now()
    // Forget idle sources so the map cannot grow without bound.
    if (buckets.size > 4096) for (const [k, b] of buckets) if (now - b.at > 10_000) buckets.delete(k)
    const r = take(buckets.get(source), limit, now)
    buckets.set(source, r.bucket)
    if (r.ok) return
    refused++
    reply.hijack()
    request.socket.destroy()
  })
  return { refused: () => refused }
}
