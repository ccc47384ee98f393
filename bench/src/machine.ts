/**
 * What the numbers were measured on: CPU model and count, memory, kernel, Node, the iptables
 * backend and the versions of the tools used as baselines. Absolute figures mean little across
 * machines; this lets a reader judge them anyway.
 */
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { createProcessRunner } from '../../src/process/runner.js'
import { detectBackend } from '../../src/dataplane/backend.js'

export interface MachineDescription {
  cpuModel: string
  cores: number
  memoryGiB: number
  kernel: string
  node: string
  iptablesBackend: string
  iptablesVersion: string
  haproxy: string
  iperf3: string
  wrk: string
  virtualization: string
}

export async function describeMachine(): Promise<MachineDescription> {
  const runner = createProcessRunner()
  const first = async (file: string, args: string[]): Promise<string> => {
    try {
      const r = await runner.run(file, args)
      return `${r.stdout}${r.stderr}`.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown'
    } catch {
      return 'not installed'
    }
  }
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const backend = await detectBackend(runner).catch(() => null)
  return {
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    iptablesBackend: backend?.name ?? 'unknown',
    iptablesVersion: await first('iptables', ['--version']),
    haproxy: await first('haproxy', ['-v']),
    iperf3: await first('iperf3', ['--version']),
    wrk: await first('wrk', ['-v']),
    virtualization: (await first('systemd-detect-virt', [])).replace('not installed', 'unknown'),
  }
}
