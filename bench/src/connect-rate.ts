/**
 * Child script of the passive cost measurement, run in the client namespace:
 *   node connect-rate.js HOST PORT RATE DURATION_MS
 * Opens RATE new TCP connections a second (in batches every 10 ms) for DURATION_MS, each closed as
 * soon as it is established (or after 1 s), then prints `{"opened":..,"established":..}` and exits.
 * It only connects to the address it is given (the bench's own namespace).
 */
import net from 'node:net'

const [host = '198.18.0.1', port = '8000', rate = '5000', duration = '10000'] = process.argv.slice(2)
const perTick = Number(rate) / 100
let opened = 0
let established = 0
let owed = 0
const start = Date.now()
const timer = setInterval(() => {
  const elapsed = Date.now() - start
  if (elapsed > Number(duration)) {
    clearInterval(timer)
    setTimeout(() => {
      process.stdout.write(`${JSON.stringify({ opened, established, seconds: elapsed / 1000 })}\n`)
      process.exit(0)
    }, 1100)
    return
  }
  // Catch up on ticks the loop missed, so the rate holds when timers run late.
  owed = (elapsed / 10 + 1) * perTick - opened
  for (let i = 0; i < owed; i++) {
    opened++
    const s = net.connect({ host, port: Number(port) })
    const t = setTimeout(() => s.destroy(), 1000)
    s.once('connect', () => { established++; clearTimeout(t); s.destroy() })
    s.once('error', () => { clearTimeout(t); s.destroy() })
  }
}, 10)
