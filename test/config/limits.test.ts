// Config limits (issue 13 item 6) and the wording of bounds (issue 11 item 7): each limit is refused
// at the first entry past it, before values are built; the bound messages name the whole range.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { loadConfigFile, parseConfig, formatProblems } from '../../src/config/load.js'
import { CONFIG_LIMITS } from '../../src/config/limits.js'

const problems = (yaml: string): string => {
  const r = parseConfig(yaml, 'c.yaml')
  return r.ok ? 'ok' : formatProblems(r.problems)
}
const target = '{ host: 198.18.1.10, port: 80 }'
const listenerLine = (i: number, targets = target): string => `  - { name: l${i}, port: ${20000 + i}, targets: [${targets}] }\n`

t.test('limits: more listeners than the limit are refused at the first one past it', async (t) => {
  const yaml = `listeners:\n${Array.from({ length: CONFIG_LIMITS.maxListeners + 1 }, (_, i) => listenerLine(i)).join('')}`
  t.equal(problems(yaml), `c.yaml:${CONFIG_LIMITS.maxListeners + 2}:5: listeners.${CONFIG_LIMITS.maxListeners}: ${CONFIG_LIMITS.maxListeners + 1} listeners are more than the limit of ${CONFIG_LIMITS.maxListeners}; spread them over more than one scale set`)
  const atLimit = `listeners:\n${Array.from({ length: CONFIG_LIMITS.maxListeners }, (_, i) => listenerLine(i)).join('')}`
  t.equal(problems(atLimit), 'ok', 'exactly the limit passes')
})

t.test('limits: more targets in one listener than the limit are refused', async (t) => {
  const many = Array.from({ length: CONFIG_LIMITS.maxTargetsPerListener + 1 }, (_, j) => `{ host: 198.18.${j >> 8}.${j & 255}, port: 80 }`).join(', ')
  t.match(problems(`listeners:\n${listenerLine(0, many)}`), new RegExp(`^c\\.yaml:2:\\d+: listeners\\.0\\.targets\\.${CONFIG_LIMITS.maxTargetsPerListener}: ${CONFIG_LIMITS.maxTargetsPerListener + 1} targets are more than the limit`))
})

t.test('limits: more targets over all listeners than the limit are refused', async (t) => {
  const perListener = CONFIG_LIMITS.maxTargetsPerListener
  const n = Math.floor(CONFIG_LIMITS.maxTargets / perListener) + 1
  const targets = Array.from({ length: perListener }, (_, j) => `{ host: 198.18.${j >> 8}.${j & 255}, port: 80 }`).join(', ')
  const out = problems(`listeners:\n${Array.from({ length: n }, (_, i) => listenerLine(i, targets)).join('')}`)
  t.match(out, new RegExp(`^c\\.yaml:${n + 1}:\\d+: listeners\\.${n - 1}\\.targets: the listeners hold ${n * perListener} targets so far, more than the limit of ${CONFIG_LIMITS.maxTargets}`))
})

t.test('limits: a file over the size limit is refused before it is read', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fwdd-limits-'))
  const file = path.join(dir, 'big.yaml')
  writeFileSync(file, `# ${'x'.repeat(CONFIG_LIMITS.maxBytes)}\nlisteners: []\n`)
  const r = await loadConfigFile(file)
  t.notOk(r.ok)
  if (!r.ok) t.equal(formatProblems(r.problems), `${file}:1:1: (file): the config is ${CONFIG_LIMITS.maxBytes + 17} bytes, more than the limit of ${CONFIG_LIMITS.maxBytes} (4 MiB); split it or remove unused listeners`)
  t.match(problems(`# ${'x'.repeat(CONFIG_LIMITS.maxBytes)}\n`), /^c\.yaml:1:1: \(file\): the config is \d+ bytes/, 'text (userData) too')
})

t.test('bounds: azure.refreshSeconds: 2 names the whole range, not ">= 5"', async (t) => {
  const base = `listeners:\n${listenerLine(0)}`
  t.equal(problems(`azure: { refreshSeconds: 2 }\n${base}`), 'c.yaml:1:26: azure.refreshSeconds: 2 is out of range; write a number from 5 to 86400')
  t.equal(problems(`sync: { resyncSeconds: 4000 }\n${base}`), 'c.yaml:1:24: sync.resyncSeconds: 4000 is out of range; write a number from 1 to 3600')
  t.equal(problems(`health: { port: 0 }\n${base}`), 'c.yaml:1:17: health.port: 0 is out of range; write a number from 1 to 65535')
  t.equal(problems(`listeners:\n  - { name: a, port: 1, check: { intervalMs: 10 }, targets: [${target}] }\n`), 'c.yaml:2:46: listeners.0.check.intervalMs: 10 is out of range; write a number from 50 to 3600000')
})
