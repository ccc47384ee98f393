/**
 * `fwdd`: loads the config, adopts or programs the kernel, health-checks targets, serves the
 * health port and the control socket, and keeps everything in sync until stopped. Stopping
 * (SIGTERM, SIGINT) leaves the rules in the kernel: forwarding goes on while it restarts.
 * Returns an exit code; only the bin file calls process.exit.
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import cron from 'node-cron'
import { pino, type Logger } from 'pino'
import { formatProblems, loadConfigFile } from '../config/load.js'
import type { Config } from '../config/types.js'
import { Applier } from '../dataplane/applier.js'
import { detectBackend } from '../dataplane/backend.js'
import { Conntrack } from '../dataplane/conntrack.js'
import { ensureIpForwarding, readIpForwarding } from '../dataplane/sysctl.js'
import { tcpConnectCheck } from '../health/tcp-check.js'
import { createProcessRunner } from '../process/runner.js'
import { Engine } from '../reconcile/engine.js'
import { systemResolve } from '../targets/dns-resolver.js'
import { buildServer } from '../server/build-server.js'
import { Metrics } from '../metrics/metrics.js'
import { DrainStore } from './drain-store.js'
import { buildControlServer, listenControl } from '../control/control-server.js'
import { messageOf } from '../errors.js'
import { VERSION } from '../version.js'
import type { Status } from '../status.js'
import { DAEMON_USAGE, parseDaemonArgs, type DaemonArgs } from './args.js'
import { metricsHooks, refreshTrafficMetrics, trafficView } from './observe.js'
import { azureStatus, fileSource, needsAzure, type ConfigSource } from './config-source.js'

export interface DaemonIo {
  stdout(text: string): void
  stderr(text: string): void
}

/** Bound after which a failing apply marks the node itself unhealthy on /health. */
const APPLY_FAILING_UNHEALTHY_MS = 60000

export async function runDaemon(argv: string[], io: DaemonIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args: DaemonArgs
  try {
    args = parseDaemonArgs(argv, env)
  } catch (err: unknown) {
    io.stderr(`fwdd: ${messageOf(err)}\n${DAEMON_USAGE}`)
    return 64
  }
  if (args.help) {
    io.stdout(DAEMON_USAGE)
    return 0
  }
  if (args.version) {
    io.stdout(`fwdd ${VERSION}\n`)
    return 0
  }
  if (args.check) {
    const r = await loadConfigFile(args.config)
    if (r.ok) {
      io.stdout(`${args.config}: ok (${r.config.listeners.length} listener${r.config.listeners.length === 1 ? '' : 's'})\n`)
      return 0
    }
    io.stderr(`${formatProblems(r.problems)}\n`)
    return 1
  }
  const logger = pino({ level: args.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime })
  try {
    return await serve(args, logger, env)
  } catch (err: unknown) {
    logger.fatal({ err: messageOf(err) }, 'fwdd stopped')
    return 1
  }
}

async function serve(args: DaemonArgs, logger: Logger, env: NodeJS.ProcessEnv): Promise<number> {
  // The Azure SDKs load only when the config or the flags need them: a plain node starts faster and smaller.
  const source: ConfigSource = args.configFrom === 'imds' ? (await import('./azure-wiring.js')).imdsSource(logger, env) : fileSource(args.config)
  const first = await source.load()
  if (!first.ok) {
    logger.fatal({ problems: first.problems }, 'config invalid; not starting')
    process.stderr.write(`${first.problems}\n`)
    return 1
  }
  let config: Config = first.config
  const runner = createProcessRunner()
  const backend = await detectBackend(runner, env.FWDD_IPTABLES)
  if (backend.warning) logger.warn({ backend: backend.name }, backend.warning)
  const applier = new Applier(runner, backend)
  const conntrack = new Conntrack(runner)
  const kernel = await applier.readKernel()
  if (Applier.hasFwdState(kernel)) {
    applier.adopt(kernel)
    logger.info('found rules of a previous fwdd; adopting them until the first health round is in')
  }
  const metrics = new Metrics({ version: VERSION })
  const drain = new DrainStore(args.stateDir, logger.child({ component: 'drain' }))
  // Started later by a reload when a config without Azure resources (e.g. userData) gains some.
  const startAzure = async (c: Config) => (await import('./azure-wiring.js')).startAzureSets(c, logger, env, () => engine.azureChanged())
  let azure = needsAzure(config) ? await startAzure(config) : undefined
  const engine: Engine = new Engine({
    config, applier, conntrack, logger, check: tcpConnectCheck, resolve: systemResolve, version: VERSION,
    hooks: metricsHooks(metrics), azure: { ipGroup: (id) => azure?.view.ipGroup(id), privateLinkService: (id) => azure?.view.privateLinkService(id) },
  })
  engine.draining = await drain.load()
  metrics.setDraining(engine.draining)

  const checkForwarding = async (): Promise<void> => {
    try {
      const { wasOff } = await ensureIpForwarding()
      if (wasOff) logger.warn('net.ipv4.ip_forward was 0; turned it on (install the sysctl drop-in to keep it on)')
      engine.ipForwarding = await readIpForwarding()
    } catch (err: unknown) {
      engine.ipForwarding = false
      logger.error({ err: messageOf(err) }, 'IP forwarding is off and could not be turned on')
    }
  }
  await checkForwarding()

  const traffic = trafficView(applier, conntrack, engine)
  const computeStatus = (): Status => {
    const s = engine.status({ backend: backend.name, configSource: source.describe() })
    const azureProblems = azureStatus(azure, source)
    return azureProblems ? { ...s, node: { ...s.node, azure: azureProblems } } : s
  }
  // The LB probes and the health extension ask often; at thousands of listeners building the status
  // is O(listeners), so it is rebuilt only after a change (or after a second, for time-based fields).
  let cached: { at: number; changes: number; value: Status } | null = null
  const status = (): Status => {
    if (cached && cached.changes === engine.changeCount && Date.now() - cached.at < 1000) return cached.value
    cached = { at: Date.now(), changes: engine.changeCount, value: computeStatus() }
    return cached.value
  }

  const health = buildServer({
    status,
    nodeHealth: () => {
      const reasons: string[] = []
      if (!engine.inSync()) reasons.push('not-in-sync')
      if (!engine.ipForwarding) reasons.push('ip-forwarding-off')
      if (engine.applyFailingForMs() > APPLY_FAILING_UNHEALTHY_MS) reasons.push('apply-failing')
      return { healthy: reasons.length === 0, reasons }
    },
    metricsText: async () => {
      await refreshTrafficMetrics(traffic, status(), metrics)
      return metrics.text()
    },
    logger: logger.child({ component: 'health-server' }),
  })

  const reload = async (): Promise<string | null> => {
    const r = await source.load()
    if (!r.ok) {
      engine.rejectReload(`config reload rejected; keeping the last good config: ${r.problems}`)
      metrics.incFailedReloads()
      logger.error({ problems: r.problems }, 'config reload rejected; keeping the last good rules')
      return r.problems
    }
    if (r.config.health.port !== config.health.port || r.config.health.address !== config.health.address) {
      logger.warn({ now: `${config.health.address}:${config.health.port}`, wanted: `${r.config.health.address}:${r.config.health.port}` }, 'health.port and health.address take effect at the next restart; the LB probe keeps the current ones until then')
    }
    config = r.config
    if (azure) await azure.reconfigure(config)
    else if (needsAzure(config)) azure = await startAzure(config)
    await engine.reload(config)
    logger.info('config reloaded')
    return null
  }
  const control = buildControlServer({
    status: async () => traffic.statusWithTraffic(computeStatus()),
    rules: () => applier.savedText(),
    reload,
    setDraining: async (d) => {
      await drain.save(d)
      engine.draining = d
      metrics.setDraining(d)
      logger.info({ draining: d }, d ? 'draining: /lb answers 503, forwarding goes on' : 'undrained')
    },
  })
  await mkdir(path.dirname(args.socket), { recursive: true, mode: 0o755 })
  await listenControl(control, args.socket)
  await health.listen({ port: config.health.port, host: config.health.address })
  logger.info({ backend: backend.name, socket: args.socket, health: `${config.health.address}:${config.health.port}`, version: VERSION }, 'fwdd started')

  const maxTimeout = Math.max(...config.listeners.map((l) => l.check.timeoutMs))
  await engine.start(maxTimeout + 500)
  source.watch(() => void reload())

  // node-cron ticks every second; the verify-and-repair resync runs every `sync.resyncSeconds` ticks
  // of the config in force (a reload changes the period at once). A cron step like `*/N` would only
  // mean "every N s" when N divides 60. Each tick also re-reads IP forwarding, so /health reports
  // it off within a second even before the resync turns it back on.
  let ticks = 0
  const resync = cron.schedule('* * * * * *', async () => {
    ticks++
    if (ticks % config.sync.resyncSeconds !== 0) {
      engine.ipForwarding = await readIpForwarding().catch(() => false)
      return
    }
    await checkForwarding()
    engine.request(true)
  }, { noOverlap: true })

  return await new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'stopping; rules stay in the kernel so forwarding goes on')
      void resync.stop()
      engine.stop()
      azure?.stop()
      source.stop()
      void Promise.allSettled([health.close(), control.close()]).then(() => resolve(0))
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
    process.on('SIGHUP', () => void reload())
  })
}
