/**
 * The daemon's logger. JSON lines by default (journald keeps them; `journalctl -u fwdd -o cat`
 * gives one object a line for jq or a log shipper), with the level as a word (`"level":"warn"`,
 * not pino's `40`), so `jq 'select(.level=="warn")'` and humans read the same thing.
 * `--log-format pretty` writes one readable line per entry instead:
 *   2026-12-02T11:00:00.000Z WARN  reconciler: target left rotation listener=onprem-http target=onprem-http/0
 * without a dependency (pino-pretty is a dev tool with a worker thread; this is a 40-line formatter).
 */
import { Writable } from 'node:stream'
import { pino, type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from './args.js'

export interface LoggerOptions {
  level: LogLevel
  format: 'json' | 'pretty'
  /** Where lines go; default stdout. Tests pass a stream and read the lines. */
  destination?: NodeJS.WritableStream
}

/** Keys every line has, which the pretty form shows in fixed places rather than as `key=value`. */
const FIXED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component'])

/** One JSON log line as one readable line; a line that is not JSON is passed through unchanged. */
export function prettyLine(jsonLine: string): string {
  let o: Record<string, unknown>
  try {
    o = JSON.parse(jsonLine) as Record<string, unknown>
  } catch {
    return jsonLine.endsWith('\n') ? jsonLine : `${jsonLine}\n`
  }
  const level = String(o.level ?? '').toUpperCase().padEnd(5)
  const component = typeof o.component === 'string' ? `${o.component}: ` : ''
  const extra = Object.entries(o)
    .filter(([k]) => !FIXED.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
  return `${String(o.time ?? '')} ${level} ${component}${String(o.msg ?? '')}${extra.length ? ` ${extra.join(' ')}` : ''}\n`
}

/** A stream that turns pino's JSON lines into `prettyLine`s on `out`. */
function prettyStream(out: NodeJS.WritableStream): DestinationStream {
  let pending = ''
  return new Writable({
    write(chunk: Buffer | string, _enc, done) {
      pending += chunk.toString()
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0) {
        out.write(prettyLine(pending.slice(0, nl)))
        pending = pending.slice(nl + 1)
      }
      done()
    },
  })
}

/**
 * Builds the root logger. Components take `logger.child({ component })`. Levels are words,
 * times ISO-8601, and `pid` is kept (journald has it too, but a shipped file does not).
 */
export function createLogger(opts: LoggerOptions): Logger {
  const out = opts.destination ?? process.stdout
  const destination: DestinationStream = opts.format === 'pretty' ? prettyStream(out) : (out as DestinationStream)
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  )
}
