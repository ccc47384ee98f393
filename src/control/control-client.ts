/**
 * fwdctl's side of the control socket. Every call either answers or throws
 * `DaemonUnreachableError`, which the CLI turns into exit code 2 and a clear sentence.
 */
import http from 'node:http'

export class DaemonUnreachableError extends Error {
  constructor(readonly socketPath: string, cause: unknown) {
    super(`fwdd is not running (no answer on ${socketPath}: ${cause instanceof Error ? (cause as NodeJS.ErrnoException).code ?? cause.message : String(cause)}); start it with systemctl start fwdd, or pass --socket`, { cause })
    this.name = 'DaemonUnreachableError'
  }
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
