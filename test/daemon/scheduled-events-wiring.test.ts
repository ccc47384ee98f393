/**
 * When the Scheduled Events drain runs: on by default on Azure, off by `azure.scheduledEvents: false`,
 * and how the config key is read and checked. No network.
 */
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { wantsScheduledEvents } from '../../src/daemon/scheduled-events-wiring.js'

const yaml = (azure: string): string => `${azure}\nlisteners:\n  - name: web\n    port: 8000\n    targets: [{ host: 198.18.1.2, port: 80 }]\n`
const load = (azure: string) => {
  const r = parseConfig(yaml(azure), 'c.yaml')
  if (!r.ok) throw new Error(JSON.stringify(r.problems))
  return r.config
}

t.test('on with azure: or config from IMDS, off with scheduledEvents: false or without Azure', async (t) => {
  t.equal(wantsScheduledEvents(load('azure: {}'), 'file'), true)
  t.equal(wantsScheduledEvents(load('azure: { scheduledEvents: true }'), 'file'), true)
  t.equal(wantsScheduledEvents(load(''), 'imds'), true)
  t.equal(wantsScheduledEvents(load(''), 'file'), false)
  t.equal(wantsScheduledEvents(load('azure: { scheduledEvents: false }'), 'file'), false)
  t.equal(wantsScheduledEvents(load('azure: { scheduledEvents: false }'), 'imds'), false)
})

t.test('a non-boolean scheduledEvents is an error naming the field', async (t) => {
  const r = parseConfig(yaml('azure: { scheduledEvents: "no" }'), 'c.yaml')
  t.equal(r.ok, false)
  if (!r.ok) t.match(r.problems.map((p) => p.path).join(' '), /azure\.scheduledEvents/)
})
