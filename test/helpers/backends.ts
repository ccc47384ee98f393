/**
 * The two dataplane backends, for integration suites run once per backend
 * (`forwardingSuite(backend)` in test/integration/forwarding-suite.ts): the config line that picks one, and how
 * to read what fwdd wrote on each, so a suite states a behaviour once and proves it on both.
 */
import type { Topology } from './netns.js'

export const BACKENDS = ['iptables', 'nftables'] as const
export type BackendName = (typeof BACKENDS)[number]

/** `yaml` with the `dataplane:` key for `backend` appended (iptables is the default: nothing added). */
export function withBackend(yaml: string, backend: BackendName): string {
  return backend === 'nftables' ? `${yaml.replace(/\n?$/, '\n')}dataplane: { backend: nftables }\n` : yaml
}

/** iptables-nft-save without comments and counters (so two readings compare as text). */
export async function iptablesText(topo: Topology): Promise<string> {
  const r = await topo.exec(topo.node.ns, 'iptables-nft-save', [])
  return r.stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n').replace(/\[\d+:\d+\]/g, '')
}

/** `nft list table ip fwdd` without counter values, or null when the table does not exist. */
export async function nftTableText(topo: Topology): Promise<string | null> {
  const r = await topo.exec(topo.node.ns, 'nft', ['list', 'table', 'ip', 'fwdd'], { reject: false })
  return r.exitCode === 0 ? r.stdout.replace(/packets \d+ bytes \d+/g, '') : null
}

/** What fwdd wrote on `backend`, as text that two readings of an unchanged kernel share. */
export async function fwddKernelText(topo: Topology, backend: BackendName): Promise<string> {
  if (backend === 'nftables') return (await nftTableText(topo)) ?? ''
  return (await iptablesText(topo)).split('\n').filter((l) => /FWD-|comment fwdd/.test(l)).join('\n')
}
