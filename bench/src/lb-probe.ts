/**
 * Child script of the probe-under-flood benchmark, run in the client namespace:
 *   node lb-probe.js URL PERIOD_MS DURATION_MS
 * Sends `GET URL` on a new connection every PERIOD_MS (as the Azure LB probe does), each with a
 * 1 s deadline, for DURATION_MS; then prints one JSON line `{"attempts","ok","latenciesMs"}`
 * (latencies of the answered 200s) and exits. A 503, an error or a timeout is a failure.
 */
import http from 'node:http'

const [url = 'http://198.18.0.1:8080/lb/web', period = '50', duration = '5000'] = process.argv.slice(2)
const latenciesMs: number[] = []
let attempts = 0
let ok = 0
let pending = 0
const until = Date.now() + Number(duration)

function probe(): void {
  attempts++
  pending++
  const started = performance.now()
  let done = false
  const finish = (good: boolean): void => {
    if (done) return
    done = true
    pending--
    if (good) { ok++; latenciesMs.push(Math.round((performance.now() - started) * 10) / 10) }
  }
  const req = http.get(url, { agent: false, timeout: 1000 }, (res) => {
    res.resume()
    res.on('end', () => finish(res.statusCode === 200))
  })
  req.on('timeout', () => { req.destroy(); finish(false) })
  req.on('error', () => finish(false))
}

const timer = setInterval(() => {
  if (Date.now() < until) { probe(); return }
  clearInterval(timer)
  const wait = setInterval(() => {
    if (pending > 0) return
    clearInterval(wait)
    process.stdout.write(`${JSON.stringify({ attempts, ok, latenciesMs })}\n`)
    process.exit(0)
  }, 20)
}, Number(period))
