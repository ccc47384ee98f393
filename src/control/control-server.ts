/**
 * The control socket: how fwdctl talks to the daemon. HTTP over a unix socket, mode 0600, so only
 * the daemon's user (and root) can drain, reload or read target addresses. `buildControlServer`
 * returns the app (tests use inject()); `listenControl` binds it.
 */
import { chmod, lstat, rm } from 'node:fs/promises'
import net from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Status } from '../status.js'
import { systemClock } from '../clock.js'
import { limitRequests } from '../server/rate-limit.js'
import type { ConfigChanges, ReloadReply } from './reload-reply.js'

/** The config a daemon runs, as `GET /config` answers it. */
export interface RunningConfig {
  /** `file:/path` or `imds:userData`. */
  source: string
  /** The validated config in force (the last good one). */
  config: import('../config/types.js').Config
}

export interface ControlHandlers {
  status(): Promise<Status>
  rules(): Promise<string>
  /** What the daemon runs: where its config comes from and the config in force (for `fwdctl doctor`). */
  config?(): Promise<RunningConfig>
  /**
   * Re-reads the config; resolves with the problems text when rejected, else with what changed
   * (`diffConfigs`, src/reconcile/config-diff.ts), or null from a daemon that does not say.
   */
  reload(): Promise<string | ConfigChanges | null>
  setDraining(draining: boolean): Promise<void>
}

/** Open connections on the control socket: fwdctl opens one per command; more is a runaway script. */
export const CONTROL_MAX_CONNECTIONS = 64

export function buildControlServer(h: ControlHandlers): FastifyInstance {
  const app = Fastify({ logger: false, connectionTimeout: 30_000 })
  app.server.maxConnections = CONTROL_MAX_CONNECTIONS
  // Every caller of a unix socket has the same (empty) address: this is one budget for all of them,
  // generous for people and scripts, and it keeps a runaway loop from starving the LB probe.
  limitRequests(app, { perSecond: 100, burst: 200 }, systemClock)
  app.get('/status', async () => h.status())
  app.get('/rules', async (_req, reply) => reply.type('text/plain').send(await h.rules()))
  if (h.config) app.get('/config', async () => h.config!())
  app.post('/reload', async (_req, reply) => {
    const r = await h.reload()
    if (typeof r === 'string') return reply.code(422).send({ ok: false, error: r } satisfies ReloadReply)
    return (r === null ? { ok: true } : { ok: true, changes: r }) satisfies ReloadReply
  })
  // A drain that took effect but could not be saved answers 500 with the reason (not fastify's bare
  // "Internal Server Error"), so fwdctl can say what to fix.
  const drainRoute = (draining: boolean) => async (_req: unknown, reply: import('fastify').FastifyReply) => {
    try {
      await h.setDraining(draining)
      return { ok: true, draining }
    } catch (err: unknown) {
      return reply.code(500).send({ ok: false, draining, error: err instanceof Error ? err.message : String(err) })
    }
  }
  app.post('/drain', drainRoute(true))
  app.post('/undrain', drainRoute(false))
  return app
}

/** Whether something answers on a unix socket path. */
export function socketAnswers(path: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ path })
    const t = setTimeout(() => { s.destroy(); resolve(false) }, timeoutMs)
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true) })
    s.once('error', () => { clearTimeout(t); resolve(false) })
  })
}

/**
 * Binds the app to `path` with mode 0600. A stale socket file left by a crashed daemon is removed;
 * a live one (another daemon answering) is an error rather than stolen, and so is anything at that
 * path that is not a socket (a mistyped `--socket` must not delete a file).
 */
export async function listenControl(app: FastifyInstance, path: string): Promise<void> {
  if (await socketAnswers(path)) throw new Error(`another fwdd is answering on ${path}; stop it first`)
  const existing = await lstat(path).catch(() => null)
  if (existing && !existing.isSocket()) throw new Error(`--socket ${path} exists and is not a socket; fwdd will not delete it: pass another path or remove it yourself`)
  await rm(path, { force: true })
  const old = process.umask(0o177)
  try {
    await app.listen({ path })
  } finally {
    process.umask(old)
  }
  await chmod(path, 0o600)
}
