/**
 * The TCP connect check: success when the handshake completes within the timeout. A refused
 * connection fails at once; a black-holed one (SYN dropped) fails when the timeout fires. The
 * socket is destroyed right after connecting, so a check costs one handshake and no data.
 */
import net from 'node:net'

export interface CheckResult {
  ok: boolean
  error: string | null
  latencyMs: number
}

export type TcpCheck = (address: string, port: number, timeoutMs: number) => Promise<CheckResult>

/** The real check, with a socket. */
export const tcpConnectCheck: TcpCheck = (address, port, timeoutMs) =>
  new Promise((resolve) => {
    const started = performance.now()
    const socket = net.connect({ host: address, port, noDelay: true })
    let done = false
    const finish = (ok: boolean, error: string | null): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ ok, error, latencyMs: performance.now() - started })
    }
    const timer = setTimeout(() => finish(false, `no answer to connect within ${timeoutMs} ms`), timeoutMs)
    socket.once('connect', () => finish(true, null))
    socket.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code === 'ECONNREFUSED' ? 'connection refused' : `connect failed: ${err.code ?? err.message}`))
  })
