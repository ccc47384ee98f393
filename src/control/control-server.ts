/**
 * The control socket: how fwdctl talks to the daemon. HTTP over a unix socket, mode 0600, so only
 * the daemon's user (and root) can drain, reload or read target addresses. `buildControlServer`
 * returns the app (tests use inject()); `listenControl` binds it.
 */
import { chmod, rm } from 'node:fs/promises'
import net from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Status } from '../status.js'
import type { ConfigChanges, ReloadReply } from './reload-reply.js'

export interface ControlHandlers {
  status(): Promise<Status>
  rules(): Promise<string>
  /**
   * Re-reads the config; resolves with the problems text when rejected, else with what changed
   * (`diffConfigs`, src/reconcile/config-diff.ts), or null from a daemon that does not say.
   */
  reload(): Promise<string | ConfigChanges | null>
  setDraining(draining: boolean): Promise<void>
}

export function buildControlServer(h: ControlHandlers): FastifyInstance {
  const app = Fastify({ logger: false })
  app.get('/status', async () => h.status())
  app.get('/rules', async (_req, reply) => reply.type('text/plain').send(await h.rules()))
  app.post('/reload', async (_req, reply) => {
    const r = await h.reload()
    if (typeof r === 'string') return reply.code(422).send({ ok: false, error: r } satisfies ReloadReply)
    return (r === null ? { ok: true } : { ok: true, changes: r }) satisfies ReloadReply
  })
  app.post('/drain', async () => {
    await h.setDraining(true)
    return { ok: true, draining: true }
  })
  app.post('/undrain', async () => {
    await h.setDraining(false)
    return { ok: true, draining: false }
  })
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
 * a live one (another daemon answering) is an error rather than stolen.
 */
export async function listenControl(app: FastifyInstance, path: string): Promise<void> {
  if (await socketAnswers(path)) throw new Error(`another fwdd is answering on ${path}; stop it first`)
  await rm(path, { force: true })
  const old = process.umask(0o177)
  try {
    await app.listen({ path })
  } finally {
    process.umask(old)
  }
  await chmod(path, 0o600)
}
