/**
 * `fwdctl doctor [--config PATH] [--azure]`: runs the local checks (and the Azure ones when asked)
 * and prints one verdict per line. Exit 0 when every check passed, 1 otherwise.
 */
import http from 'node:http'
import net from 'node:net'
import { readFile } from 'node:fs/promises'
import { formatProblems, loadConfigFile } from '../config/load.js'
import { DEFAULT_CONFIG } from '../defaults.js'
import { ControlClient } from '../control/control-client.js'
import { createProcessRunner } from '../process/runner.js'
import { Conntrack } from '../dataplane/conntrack.js'
import { runLocalDoctor } from './doctor-local.js'
import { passiveVerdict } from './doctor-passive.js'
import { runAzureDoctorChecks } from './doctor-azure-command.js'
import { formatVerdicts, verdictsExitCode, type Verdict } from './verdict.js'

export interface DoctorContext {
  socket: string
  io: { stdout(text: string): void; stderr(text: string): void; env: NodeJS.ProcessEnv }
}

/** Flags of `fwdctl doctor`, already parsed (src/cli/commands.ts). */
export interface DoctorFlags {
  config?: string
  azure?: boolean
}

/**
 * The config to check: the file `--config` names; else what the running daemon runs (its file, or
 * the userData it applied in `--config-from imds` mode), asked over the control socket; else the
 * default file when no daemon answers.
 */
async function configToCheck(values: DoctorFlags, ctx: DoctorContext): Promise<{ loaded: Awaited<ReturnType<typeof loadConfigFile>>; from: string }> {
  if (values.config !== undefined) return { loaded: await loadConfigFile(values.config), from: values.config }
  const running = await new ControlClient(ctx.socket, 3000).runningConfig().catch(() => null)
  if (running) {
    const file = running.source.startsWith('file:') ? running.source.slice('file:'.length) : null
    // A file is re-read, so doctor also sees edits not yet reloaded; userData is what the daemon applied.
    if (file !== null) return { loaded: await loadConfigFile(file), from: file }
    return { loaded: { ok: true, config: running.config, warnings: [] }, from: running.source }
  }
  return { loaded: await loadConfigFile(DEFAULT_CONFIG), from: DEFAULT_CONFIG }
}

export async function runDoctorCommand(values: DoctorFlags, ctx: DoctorContext): Promise<number> {
  const { loaded } = await configToCheck(values, ctx)
  const health = loaded.ok ? loaded.config.health : { address: '0.0.0.0', port: 8080 }
  const probeAddress = health.address === '0.0.0.0' ? '127.0.0.1' : health.address
  const runner = createProcessRunner()
  const verdicts: Verdict[] = await runLocalDoctor({
    runner,
    readFile: (p) => readFile(p, 'utf8'),
    checkConfig: async () => (loaded.ok ? { ok: true, problems: [] } : { ok: false, problems: formatProblems(loaded.problems).split('\n') }),
    socketPath: ctx.socket,
    connect: (p) => connectSocket(p),
    healthAddress: health.address,
    healthPort: health.port,
    probeHealthPort: () => probeHttp(probeAddress, health.port),
    backend: loaded.ok ? loaded.config.dataplane?.backend ?? 'iptables' : 'iptables',
    flowsPerTarget: () => new Conntrack(runner).countByTarget(),
  })
  // Passive health is the daemon's own state: asked over the control socket, after the local lines.
  const passive = await new ControlClient(ctx.socket, 3000).status().then((s) => s.node.passive ?? null, () => null)
  verdicts.push(passiveVerdict(passive))
  if (values.azure) {
    verdicts.push(...(await runAzureDoctorChecks(loaded.ok ? loaded.config : null, ctx.io.env)))
  }
  ctx.io.stdout(`${formatVerdicts(verdicts)}\n`)
  return verdictsExitCode(verdicts)
}

function probeHttp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/health', timeout: 1000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
  })
}

/**
 * Whether the daemon answers on its control socket. Resolves false when nothing listens (missing
 * socket, refused, silent); rejects when the socket exists but this user may not use it (it is mode
 * 0600), so the verdict says so instead of claiming that a running daemon is down.
 */
function connectSocket(socketPath: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: socketPath })
    const timer = setTimeout(() => { s.destroy(); resolve(false) }, timeoutMs)
    s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve(true) })
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      if (err.code === 'EACCES' || err.code === 'EPERM') reject(new Error(`permission denied (${err.code}): the socket is mode 0600, owned by the daemon's user`))
      else resolve(false)
    })
  })
}
