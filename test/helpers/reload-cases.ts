/**
 * The reload half of the robustness suite (issue 13): generated config texts are reloaded one by
 * one into a running daemon over its control socket. A text the daemon refuses must be refused
 * with PATH:LINE:COL and leave the kernel's rules exactly as they were (the last good config stays
 * in force); a text it accepts is followed by the base config again, so every case starts from the
 * same rules. A crash is a reply that is neither (500, no answer) or a daemon that exited. Used by
 * test/integration/config-reload-property.test.ts (short) and the benchmark (long).
 */
import { controlRequest } from '../../src/control/control-client.js'
import { isReloadReply } from '../../src/control/reload-reply.js'

export interface ReloadFigures {
  cases: number
  accepted: number
  rejectedWithPosition: number
  rejectedWithoutPosition: number
  crashes: number
  /** Refused reloads after which the kernel's rules differed from the last good ones. */
  rulesChanged: number
  /** The first few problems seen, for the report. */
  examples: string[]
}

export interface ReloadSubject {
  socket: string
  writeConfig(text: string): void
  /** fwdd's chains and jumps as the kernel holds them, counters stripped. */
  rules(): Promise<string>
  /** Whether the daemon process still runs. */
  alive(): boolean
}

type Outcome = { kind: 'accepted' } | { kind: 'rejected'; error: string } | { kind: 'crash'; why: string }

async function reload(socket: string): Promise<Outcome> {
  try {
    const r = await controlRequest(socket, 'POST', '/reload', 60_000)
    const body: unknown = JSON.parse(r.body)
    if ((r.statusCode === 200 || r.statusCode === 422) && isReloadReply(body)) return body.ok ? { kind: 'accepted' } : { kind: 'rejected', error: body.error }
    return { kind: 'crash', why: `answered ${r.statusCode}: ${r.body.slice(0, 200)}` }
  } catch (err: unknown) {
    return { kind: 'crash', why: err instanceof Error ? err.message : String(err) }
  }
}

/** The lines of `iptables-save` (both tables) that belong to fwdd, without counters. */
export function fwddRuleLines(natSave: string, filterSave: string): string {
  return [natSave, filterSave].flatMap((text) => text.split('\n'))
    .map((l) => l.replace(/^\[\d+:\d+\] /, '').replace(/ \[\d+:\d+\]$/, ''))
    .filter((l) => /^:FWD-|^-A FWD-| -j FWD-/.test(l))
    .join('\n')
}

/** The first lines only one side has, for a report. */
function lineDiff(want: string, got: string): string {
  const a = new Set(want.split('\n'))
  const b = new Set(got.split('\n'))
  const gone = [...a].filter((l) => !b.has(l)).slice(0, 2)
  const added = [...b].filter((l) => !a.has(l)).slice(0, 2)
  return `missing ${JSON.stringify(gone)}, extra ${JSON.stringify(added)}`
}

/**
 * Waits until the kernel holds `want` and keeps holding it for a second: after the base config
 * is back, health checks of its targets may still rewrite a chain once, and a refused case must be
 * judged from settled rules, not against a sync that was already under way.
 */
async function waitRules(subject: ReloadSubject, want: string, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs
  let sameSince: number | null = null
  for (;;) {
    const now = Date.now()
    if ((await subject.rules()) === want) {
      sameSince ??= now
      if (now - sameSince >= 1000) return true
    } else sameSince = null
    if (now > until) return false
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Reloads every case into the daemon, starting from `base` (already loaded, its rules in the
 * kernel). Stops at the first crash. Leaves the daemon on `base`.
 */
export async function reloadCases(subject: ReloadSubject, base: string, cases: readonly string[], log: (m: string) => void = () => {}): Promise<ReloadFigures> {
  const f: ReloadFigures = { cases: 0, accepted: 0, rejectedWithPosition: 0, rejectedWithoutPosition: 0, crashes: 0, rulesChanged: 0, examples: [] }
  const note = (m: string): void => { if (f.examples.length < 5) f.examples.push(m) }
  const baseline = await subject.rules()
  for (const text of cases) {
    f.cases++
    subject.writeConfig(text)
    const t0 = Date.now()
    const r = await reload(subject.socket)
    log(`case ${f.cases}: ${r.kind} in ${Date.now() - t0} ms`)
    if (r.kind === 'crash' || !subject.alive()) {
      f.crashes++
      note(`crash on ${JSON.stringify(text.slice(0, 200))}: ${r.kind === 'crash' ? r.why : 'the daemon exited'}`)
      break
    }
    if (r.kind === 'rejected') {
      if (/:\d+:\d+: /.test(r.error)) f.rejectedWithPosition++
      else {
        f.rejectedWithoutPosition++
        note(`rejected without a position: ${r.error.slice(0, 200)}`)
      }
      const now = await subject.rules()
      if (now !== baseline) {
        f.rulesChanged++
        note(`rules changed by a refused reload of ${JSON.stringify(text.slice(0, 200))}: ${lineDiff(baseline, now)}`)
      }
      continue
    }
    f.accepted++
    subject.writeConfig(base)
    const back = await reload(subject.socket)
    if (back.kind !== 'accepted') {
      f.crashes++
      note(`the base config did not reload after an accepted case: ${JSON.stringify(back)}`)
      break
    }
    const started = Date.now()
    const ok = await waitRules(subject, baseline, 15_000)
    log(`case ${f.cases}: accepted; base rules back ${ok ? `after ${Date.now() - started} ms` : 'NOT within 15 s'}`)
    if (!ok) {
      f.rulesChanged++
      note(`the base rules did not come back after ${JSON.stringify(text.slice(0, 200))}`)
    }
  }
  return f
}
