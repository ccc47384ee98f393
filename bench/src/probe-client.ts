/**
 * Child script of the failover benchmark, run in the client namespace:
 *   node probe-client.js HOST PORT PERIOD_MS ATTEMPT_TIMEOUT_MS RUN_LENGTH MAX_MS
 * Starts a new TCP connection every PERIOD_MS (a success is a completed handshake within
 * ATTEMPT_TIMEOUT_MS). Prints `ready` after RUN_LENGTH consecutive successes. When it reads the line
 * `fault <epoch ms>` on stdin, it waits for the first failed attempt started after that moment and
 * then for RUN_LENGTH consecutive successes after the last failure, and prints one JSON line
 * `{"recoveryMs":..,"failures":..,"attempts":..}` where recoveryMs runs from the fault to the start
 * of the first attempt of that run. With no failure within MAX_MS it reports recoveryMs 0 and
 * failures 0 (the fault never reached a client). Exits after printing.
 */
import net from 'node:net'

const [host = '198.18.0.1', port = '8000', period = '10', attemptTimeout = '200', runLen = '20', maxMs = '20000'] = process.argv.slice(2)
const K = Number(runLen)

interface Attempt { start: number; ok: boolean | null }
const attempts: Attempt[] = []
let faultAt: number | null = null
let ready = false

function attempt(): void {
  const a: Attempt = { start: Date.now(), ok: null }
  attempts.push(a)
  const s = net.connect({ host, port: Number(port) })
  const done = (ok: boolean): void => {
    if (a.ok !== null) return
    a.ok = ok
    clearTimeout(t)
    s.destroy()
    evaluate()
  }
  const t = setTimeout(() => done(false), Number(attemptTimeout))
  s.once('connect', () => done(true))
  s.once('error', () => done(false))
}

function evaluate(): void {
  if (!ready) {
    const tail = attempts.slice(-K)
    if (tail.length === K && tail.every((a) => a.ok === true)) {
      ready = true
      process.stdout.write('ready\n')
    }
    return
  }
  if (faultAt === null) return
  const from = attempts.findIndex((a) => a.start >= faultAt!)
  if (from < 0) return
  let f = -1
  for (let i = attempts.length - 1; i >= from; i--) if (attempts[i]!.ok === false) { f = i; break }
  const failures = attempts.slice(from).filter((a) => a.ok === false).length
  if (f >= 0) {
    const run = attempts.slice(f + 1, f + 1 + K)
    if (run.length === K && run.every((a) => a.ok === true)) finish(attempts[f + 1]!.start - faultAt, failures)
  } else if (Date.now() - faultAt > Number(maxMs)) {
    finish(0, 0)
  }
}

let finished = false
function finish(recoveryMs: number, failures: number): void {
  if (finished) return
  finished = true
  clearInterval(timer)
  process.stdout.write(`${JSON.stringify({ recoveryMs, failures, attempts: attempts.length })}\n`)
  setTimeout(() => process.exit(0), 10)
}

const timer = setInterval(() => {
  attempt()
  if (faultAt !== null && Date.now() - faultAt > Number(maxMs) + 2000) {
    process.stdout.write(`${JSON.stringify({ error: `no recovery within ${maxMs} ms` })}\n`)
    process.exit(1)
  }
}, Number(period))

let input = ''
process.stdin.on('data', (d: Buffer) => {
  input += d.toString()
  const m = /fault (\d+)/.exec(input)
  if (m && faultAt === null) faultAt = Number(m[1])
})
