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
  /**
   * The check said nothing about the target: this node ran out of a local resource (file
   * descriptors, buffers, source ports). The checker then keeps the target's state as it was.
   */
  inconclusive?: boolean
}

/** Socket errors that are this node's, not the target's: a check failing with one of them proves nothing. */
const LOCAL_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL'])

export type TcpCheck = (address: string, port: number, timeoutMs: number) => Promise<CheckResult>

/** The real check, with a socket. */
export const tcpConnectCheck: TcpCheck = (address, port, timeoutMs) =>
  new Promise((resolve) => {
    const started = performance.now()
    const socket = net.connect({ host: address, port, noDelay: true })
    let done = false
    const finish = (ok: boolean, error: string | null, inconclusive = false): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ ok, error, latencyMs: performance.now() - started, ...(inconclusive ? { inconclusive } : {}) })
    }
    const timer = setTimeout(() => finish(false, `no answer to connect within ${timeoutMs} ms`), timeoutMs)
    socket.once('connect', () => finish(true, null))
    socket.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code === 'ECONNREFUSED' ? 'connection refused' : `connect failed: ${err.code ?? err.message}`, LOCAL_ERRORS.has(err.code ?? '')))
  })
