/**
 * Child script of the disruption benchmark, run in the client namespace:
 *   node hold-client.js HOST PORT COUNT INTERVAL_MS
 * Opens COUNT long-lived TCP connections to an echo service; each sends a line every INTERVAL_MS
 * and expects it back. Prints `ready` once every connection has had an echo. On the stdin line
 * `report` it prints one JSON line `{"connections","broken","stalled","maxSilenceMs"}` (broken:
 * closed or errored; stalled: open but silent for more than 4 intervals + 1 s) and exits.
 */
import net from 'node:net'

const [host = '198.18.0.1', port = '7000', count = '50', interval = '200'] = process.argv.slice(2)

interface Conn { socket: net.Socket; lastEcho: number; broken: boolean; echoed: boolean }
const conns: Conn[] = []
let ready = false

for (let i = 0; i < Number(count); i++) {
  const c: Conn = { socket: net.connect({ host, port: Number(port) }), lastEcho: Date.now(), broken: false, echoed: false }
  c.socket.setNoDelay(true)
  c.socket.on('data', () => {
    c.lastEcho = Date.now()
    c.echoed = true
    if (!ready && conns.every((x) => x.echoed)) {
      ready = true
      process.stdout.write('ready\n')
    }
  })
  const broke = (): void => { c.broken = true }
  c.socket.on('error', broke)
  c.socket.on('close', broke)
  conns.push(c)
}

setInterval(() => {
  for (const c of conns) if (!c.broken) c.socket.write('x\n')
}, Number(interval))

process.stdin.on('data', (d: Buffer) => {
  if (!d.toString().includes('report')) return
  const now = Date.now()
  const limit = 4 * Number(interval) + 1000
  const silences = conns.filter((c) => !c.broken).map((c) => now - c.lastEcho)
  process.stdout.write(`${JSON.stringify({
    connections: conns.length,
    broken: conns.filter((c) => c.broken).length,
    stalled: silences.filter((s) => s > limit).length,
    maxSilenceMs: Math.max(0, ...silences),
  })}\n`)
  setTimeout(() => process.exit(0), 10)
})
