/**
 * Child script: asks `GET URL` every 20 ms (one request at a time, keep-alive, refused connections
 * retried) until one answers 200, then prints `{"readyAt":WALL_MS}` (`performance.timeOrigin +
 * now()`, the harness's clock) and exits. Prints `polling` first, so the harness starts what it
 * times only once this process has booted. Usage: `node ready-poller.js URL`. The curve's start to
 * in sync used a shell loop that spawned curl every 20 ms, ~50 processes a second on the two cores
 * the starting daemon runs on.
 */
import http from 'node:http'

const [url = 'http://127.0.0.1:8080/lb'] = process.argv.slice(2)
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

function ask(): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: 2000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
  })
}

process.stdout.write('polling\n')
for (;;) {
  if ((await ask()) === 200) {
    process.stdout.write(`${JSON.stringify({ readyAt: performance.timeOrigin + performance.now() })}\n`)
    process.exit(0)
  }
  await new Promise((r) => setTimeout(r, 20))
}
