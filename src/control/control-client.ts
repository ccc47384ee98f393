/**
 * fwdctl's side of the control socket. Every call either answers or throws
 * `DaemonUnreachableError`, which the CLI turns into exit code 2 and a clear sentence.
 */
import http from 'node:http'

export class DaemonUnreachableError extends Error {
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
