/**
 * fwdctl's side of the control socket: `ControlClient` has one typed method per endpoint, and
 * every answer is checked by a guard before it is returned (never `JSON.parse(...) as Status`), so
 * a daemon of another version or a foreign socket gives a clear `ControlReplyError`, not a crash in
 * the table. A daemon that cannot be reached throws `DaemonUnreachableError` (exit code 2).
 */
import http from 'node:http'
import { statusProblem } from './status-guard.js'
import { isReloadReply, type ReloadReply } from './reload-reply.js'
import type { Status } from '../status.js'
import type { ErrorCode } from '../errors.js'

export class DaemonUnreachableError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_DAEMON_UNREACHABLE'
  /** The errno code (`ENOENT`, `ECONNREFUSED`, `EACCES`, ...) or the failure's message. */
  readonly reason: string

  constructor(readonly socketPath: string, cause: unknown) {
    const reason = cause instanceof Error ? (cause as NodeJS.ErrnoException).code ?? cause.message : String(cause)
    super(unreachableMessage(socketPath, reason), { cause })
    this.name = 'DaemonUnreachableError'
    this.reason = reason
  }
}

/**
 * Says what the operator should do. Only a missing socket or a refused connection means the daemon
 * is not running; a permission error means it may well run, but the socket (mode 0600) belongs to
 * another user, and saying "not running" then would send the operator to restart a healthy daemon.
 */
function unreachableMessage(socketPath: string, reason: string): string {
  if (reason === 'EACCES' || reason === 'EPERM') {
    return `permission denied on the control socket ${socketPath} (${reason}): it is mode 0600, owned by the daemon's user; run fwdctl as that user or as root (sudo fwdctl ...)`
  }
  if (reason === 'ENOENT' || reason === 'ECONNREFUSED' || reason === 'ENOTSOCK') {
    return `fwdd is not running (no answer on ${socketPath}: ${reason}); start it with systemctl start fwdd, or pass --socket`
  }
  return `fwdd is not answering on ${socketPath} (${reason}); check that it runs (systemctl status fwdd, journalctl -u fwdd), or pass --socket`
}

export interface ControlResponse {
  statusCode: number
  body: string
}

export function controlRequest(socketPath: string, method: 'GET' | 'POST', path: string, timeoutMs = 10000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', (err) => reject(new DaemonUnreachableError(socketPath, err)))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (err) => reject(new DaemonUnreachableError(socketPath, err)))
    req.end()
  })
}

/** The daemon answered, but not what was asked for (an error status, or a body of the wrong shape). */
export class ControlReplyError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_CONTROL_REPLY'
  constructor(readonly path: string, message: string) {
    super(`${path.slice(1)}: ${message}`)
    this.name = 'ControlReplyError'
  }
}

function errorOf(body: string): string {
  try {
    const v: unknown = JSON.parse(body)
    if (typeof v === 'object' && v !== null && typeof (v as { error?: unknown }).error === 'string') return (v as { error: string }).error
  } catch { /* plain text */ }
  return body
}

function parseJson(path: string, body: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    throw new ControlReplyError(path, `the daemon's answer is not JSON: ${body.slice(0, 200)}`)
  }
}

/** A typed client of the control socket; one instance per socket path. */
export class ControlClient {
  constructor(readonly socketPath: string, private readonly timeoutMs = 10000) {}

  /** The status object, validated. */
  async status(): Promise<Status> {
    const res = await controlRequest(this.socketPath, 'GET', '/status', this.timeoutMs)
    if (res.statusCode !== 200) throw new ControlReplyError('/status', `the daemon answered ${res.statusCode}: ${errorOf(res.body)}`)
    const v = parseJson('/status', res.body)
    const problem = statusProblem(v)
    if (problem !== null) throw new ControlReplyError('/status', `the daemon's status has the wrong shape (${problem}); is fwdctl the same version as fwdd?`)
    return v as Status
  }

  /** Where the daemon's config comes from and the config in force; null from a daemon without `/config`. */
  async runningConfig(): Promise<{ source: string; config: import('../config/types.js').Config } | null> {
    const res = await controlRequest(this.socketPath, 'GET', '/config', this.timeoutMs)
    if (res.statusCode === 404) return null
    if (res.statusCode !== 200) throw new ControlReplyError('/config', `the daemon answered ${res.statusCode}: ${errorOf(res.body)}`)
    const v = parseJson('/config', res.body) as { source?: unknown; config?: unknown }
    if (typeof v?.source !== 'string' || typeof v.config !== 'object' || v.config === null) throw new ControlReplyError('/config', 'the daemon\'s config reply has the wrong shape; is fwdctl the same version as fwdd?')
    return v as { source: string; config: import('../config/types.js').Config }
  }

  /** The applied rule set as iptables-save text. */
  async rules(): Promise<string> {
    const res = await controlRequest(this.socketPath, 'GET', '/rules', this.timeoutMs)
    if (res.statusCode !== 200) throw new ControlReplyError('/rules', `the daemon answered ${res.statusCode}: ${errorOf(res.body)}`)
    return res.body
  }

  /** Asks for a reload; a rejected config resolves with `{ ok: false, error }` (not a throw). */
  async reload(): Promise<ReloadReply> {
    const res = await controlRequest(this.socketPath, 'POST', '/reload', this.timeoutMs)
    if (res.statusCode !== 200 && res.statusCode !== 422) throw new ControlReplyError('/reload', `the daemon answered ${res.statusCode}: ${errorOf(res.body)}`)
    const v = parseJson('/reload', res.body)
    if (!isReloadReply(v)) throw new ControlReplyError('/reload', `the daemon's reply has the wrong shape: ${res.body.slice(0, 200)}`)
    return v
  }

  /** Drains (`true`) or undrains the node. */
  async setDraining(draining: boolean): Promise<void> {
    const path = draining ? '/drain' : '/undrain'
    const res = await controlRequest(this.socketPath, 'POST', path, this.timeoutMs)
    if (res.statusCode !== 200) throw new ControlReplyError(path, `the daemon answered ${res.statusCode}: ${errorOf(res.body)}`)
  }
}
