/**
 * Child script of the scale curve's connection rate, run in the client namespace:
 *   node handshake-rate.js HOST PORT CONCURRENCY DURATION_MS
 * Keeps CONCURRENCY connection attempts in flight to HOST:PORT for DURATION_MS. Each connection is
 * reset (RST) as soon as its handshake completes, so neither end holds TIME_WAIT and the node's
 * conntrack entry ends in CLOSE: the figure is new connections through the node, not how fast the
 * server and the client can reuse ports (wrk with `Connection: close` left the server in TIME_WAIT,
 * and its runs scattered by 2 x). Prints `{"established":N,"failed":F,"seconds":S}` and exits. It
 * only connects to the address it is given (the bench's own namespace).
 */
import net from 'node:net'

const [host = '198.18.0.1', port = '8000', concurrency = '8', duration = '2000'] = process.argv.slice(2)
let established = 0
let failed = 0
let stopped = false
const started = performance.now()

function attempt(): void {
  if (stopped) return
  let connected = false
  const s = net.connect({ host, port: Number(port) })
  s.once('connect', () => {
    connected = true
    established++
    s.resetAndDestroy()
    attempt()
  })
  s.once('error', () => {
    if (connected) return
    failed++
    s.destroy()
    setTimeout(attempt, 1)
  })
}

for (let i = 0; i < Number(concurrency); i++) attempt()
setTimeout(() => {
  stopped = true
  process.stdout.write(`${JSON.stringify({ established, failed, seconds: (performance.now() - started) / 1000 })}\n`)
  process.exit(0)
}, Number(duration))
