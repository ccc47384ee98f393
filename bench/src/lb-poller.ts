/**
 * Child script: asks `GET /lb` over and over (one request at a time, keep-alive) and keeps every
 * answer with when it was asked and answered (wall ms, `performance.timeOrigin + now()`, the same
 * clock the harness uses). On the stdin line `dump` it prints the answers since the last dump as
 * one JSON line and forgets them. Usage: `node lb-poller.js URL`. Prints `ready` once polling.
 */
import http from 'node:http'
import { createInterface } from 'node:readline'

const [url = 'http://127.0.0.1:8080/lb'] = process.argv.slice(2)
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
const wall = (): number => performance.timeOrigin + performance.now()
let samples: Array<[number, number, number]> = []
let stopped = false

function ask(): Promise<void> {
  return new Promise((resolve) => {
    const start = wall()
    const req = http.get(url, { agent, timeout: 2000 }, (res) => {
      res.resume()
      res.on('end', () => { samples.push([start, wall(), res.statusCode ?? 0]); resolve() })
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => { samples.push([start, wall(), 0]); resolve() })
  })
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'dump') return
  process.stdout.write(`${JSON.stringify(samples)}\n`)
  samples = []
})
process.on('SIGTERM', () => { stopped = true; process.exit(0) })

let first = true
while (!stopped) {
  await ask()
  if (first) { process.stdout.write('ready\n'); first = false }
  await new Promise((r) => setTimeout(r, 2))
}
