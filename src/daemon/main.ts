/**
 * `fwdd`: loads the config, adopts or programs the kernel, health-checks targets, serves the
 * health port and the control socket, and keeps everything in sync until stopped. Stopping
 * (SIGTERM, SIGINT) leaves the rules in the kernel: forwarding goes on while it restarts.
 * Returns an exit code; only the bin file calls process.exit.
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { createLogger, type LoggerOptions } from './logger.js'
import { diffConfigs } from '../reconcile/config-diff.js'
import { describeChanges, type ConfigChanges } from '../control/reload-reply.js'
import { formatProblems, formatWarnings, loadConfigFile } from '../config/load.js'
import type { Config } from '../config/types.js'
import { createDataplane } from '../dataplane/dataplane.js'
import { Conntrack } from '../dataplane/conntrack.js'
import { TrafficWatcher } from '../passive/traffic-watcher.js'
import { ensureIpForwarding, readIpForwarding } from '../dataplane/sysctl.js'
import { tcpConnectCheck } from '../health/tcp-check.js'
import { createProcessRunner } from '../process/runner.js'
import { Reconciler } from '../reconcile/reconciler.js'
import { systemClock } from '../clock.js'
import { Scheduler } from '../scheduler.js'
import { singleFlight } from '../reconcile/single-flight.js'
import { verifyPeriodMs } from '../reconcile/verify-period.js'
import { systemResolve } from '../targets/dns-resolver.js'
import { buildServer, HEALTH_SERVER_LIMITS } from '../server/build-server.js'
import { Metrics } from '../metrics/metrics.js'
import { DrainStore } from './drain-store.js'
import { buildControlServer, listenControl } from '../control/control-server.js'
import { messageOf } from '../errors.js'
import { VERSION } from '../version.js'
import type { Status } from '../status.js'
import { trafficReader } from './traffic.js'
import { DAEMON_USAGE, parseDaemonArgs, type DaemonArgs } from './args.js'
import { metricsHooks, refreshMetrics } from './observe.js'
import { azureStatus, fileSource, needsAzure, type ConfigSource } from './config-source.js'
import { startScheduledEvents, wantsScheduledEvents } from './scheduled-events-wiring.js'

/**
 * How long a `/lb` 200 waits for the ruleset watch to report a change made before the probe came
 * (build-server.ts, settleMs). The watch's lag is a few ms (the one probe the 2026-12-07c curve saw
 * lie came 5 ms after the break); the LB probe's timeout is seconds, so 15 ms more per 200 costs it
 * nothing. A benchmark of /lb requests per second pays it in full (README, Performance).
 */
const LB_SETTLE_MS = 15

export interface DaemonIo {
  stdout(text: string): void
  stderr(text: string): void
}

/** How often IP forwarding is re-read, so /health reports it off within a second. */
const IP_FORWARD_CHECK_MS = 1000

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
      if (r.warnings.length > 0) io.stderr(`${formatWarnings(r.warnings)}\n`)
      io.stdout(`${args.config}: ok (${r.config.listeners.length} listener${r.config.listeners.length === 1 ? '' : 's'})\n`)
      return 0
    }
    io.stderr(`${formatProblems(r.problems)}\n`)
    return 1
  }
  const logger = createLogger({ level: args.logLevel as LoggerOptions['level'], format: args.logFormat })
  try {
    return await serve(args, logger, env)
  } catch (err: unknown) {
    logger.fatal({ err: messageOf(err) }, 'fwdd stopped')
    return 1
  }
}

async function serve(args: DaemonArgs, logger: Logger, env: NodeJS.ProcessEnv): Promise<number> {
  const clock = systemClock
  // A stray rejection (a spawn failing with EMFILE under fd pressure, say) must not kill the daemon:
  // the rules stay in the kernel either way, and the next sync or check retries.
  const onStray = (err: unknown): void => logger.error({ err: messageOf(err) }, 'unhandled rejection; carrying on')
  process.on('unhandledRejection', onStray)
  // The Azure SDKs load only when the config or the flags need them: a plain node starts faster and smaller.
  const source: ConfigSource = args.configFrom === 'imds' ? (await import('./azure-wiring.js')).imdsSource(logger, env) : fileSource(args.config)
  // Nothing listens yet, so the first load may hold the event loop (no worker to start for it).
  const first = await source.load({ loopIdle: true })
  if (!first.ok) {
    logger.fatal({ problems: first.problems }, 'config invalid; not starting')
    process.stderr.write(`${first.problems}\n`)
    return 1
  }
  let config: Config = first.config
  const runner = createProcessRunner()
  // The iptables or nftables dataplane: renders and writes the rule set, reads per-target counters,
  // watches the ruleset for changes made by others. Switching backends removes the other's rules.
  const dataplane = await createDataplane(runner, { backend: config.dataplane?.backend ?? 'iptables', ...(env.FWDD_IPTABLES ? { iptablesOverride: env.FWDD_IPTABLES } : {}) })
  const backend = { name: dataplane.name }
  if (dataplane.warning) logger.warn({ backend: backend.name }, dataplane.warning)
  const conntrack = new Conntrack(runner)
  const adopted = await dataplane.adopt()
  if (adopted) logger.info('found rules of a previous fwdd; adopting them until the first health round is in')
  // Metric series are named by the target's stable label (config position or name), looked up in
  // the reconciler's current targets.
  const metrics = new Metrics({
    version: VERSION,
    labelTarget: (listener, target) => {
      for (const t of reconciler.state.index.byListener.get(listener) ?? []) if (`${t.address}:${t.port}` === target) return t.label
      return undefined
    },
  })
  const drain = new DrainStore(args.stateDir, logger.child({ component: 'drain' }))
  // Started later by a reload when a config without Azure resources (e.g. userData) gains some.
  const startAzure = async (c: Config) => (await import('./azure-wiring.js')).startAzureSets(c, logger, env, () => reconciler.worldChanged())
  let azure = needsAzure(config) ? await startAzure(config) : undefined
  const reconciler: Reconciler = new Reconciler({
    config, clock, dataplane, conntrack, logger, check: tcpConnectCheck, resolve: systemResolve,
    hooks: metricsHooks(metrics), draining: await drain.load(),
    azure: { ipGroup: (id) => azure?.view.ipGroup(id), privateLinkService: (id) => azure?.view.privateLinkService(id) },
    // Passive health: conntrack events of fwdd's own forwarded flows (connmark), through the runner.
    watchTraffic: (handlers) => new TrafficWatcher(runner, clock, handlers),
  })

  const checkForwarding = async (repair: boolean): Promise<void> => {
    try {
      if (repair) {
        const { wasOff } = await ensureIpForwarding()
        if (wasOff) logger.warn('net.ipv4.ip_forward was 0; turned it on (install the sysctl drop-in to keep it on)')
      }
      reconciler.setIpForwarding(await readIpForwarding())
    } catch (err: unknown) {
      reconciler.setIpForwarding(false)
      logger.error({ err: messageOf(err) }, 'IP forwarding is off and could not be turned on')
    }
  }
  await checkForwarding(true)

  let events: { lastError: string | null; stop(): void } | undefined
  const statusContext = () => ({ version: VERSION, backend: backend.name, configSource: source.describe(), azure: azureStatus(azure, source), ...(events ? { scheduledEventsError: events.lastError } : {}) })
  // The LB probes and the health extension ask often; building their status is O(listeners) (no
  // target statuses: the probes do not read them), so it is rebuilt only when the state changed,
  // or after a second (staleness is a matter of time).
  let cached: { at: number; version: number; value: Status } | null = null
  const status = (): Status => {
    const v = reconciler.version
    if (cached && cached.version === v && clock.now() - cached.at < 1000) return cached.value
    const value = reconciler.status(statusContext(), {}, false)
    cached = { at: clock.now(), version: v, value }
    return value
  }
  const readTraffic = trafficReader(clock, { counters: () => dataplane.counters(), countByTarget: () => conntrack.countByTarget() })
  const statusWithTraffic = async (): Promise<Status> => reconciler.status(statusContext(), await readTraffic(reconciler.state))
  // One scrape's worth of work shared by every scrape in flight (and for a second).
  const metricsText = singleFlight(clock, 1000, async () => {
    refreshMetrics(await statusWithTraffic(), metrics)
    return metrics.text()
  })

  const health = buildServer({
    status,
    nodeHealth: () => status().node.health ?? { healthy: false, reasons: ['status-error'] },
    metricsText: () => metricsText.get(),
    logger,
    routes: config.metrics ? 'probes' : 'all',
    settleMs: LB_SETTLE_MS,
    limits: { reserved: [...HEALTH_SERVER_LIMITS.reserved, ...config.health.probeSources.flatMap((a) => [a, `::ffff:${a}`])] },
  })
  // `metrics:` moves /metrics off the network-facing health port (to loopback by default).
  const metricsServer = config.metrics
    ? buildServer({ status, nodeHealth: () => ({ healthy: true, reasons: [] }), metricsText: () => metricsText.get(), logger, routes: 'metrics' })
    : undefined

  // What the health server actually bound: a reload compares with this, not with the last config.
  const bound = { address: config.health.address, port: config.health.port }
  const boundMetrics = config.metrics ?? null
  const reload = async (): Promise<string | ConfigChanges | null> => {
    try {
      return await applyReload()
    } catch (err: unknown) {
      const message = `config reload failed; keeping the last good config: ${messageOf(err)}`
      reconciler.rejectReload(message)
      metrics.incFailedReloads()
      logger.error({ err: messageOf(err) }, 'config reload failed; keeping the last good rules')
      return message
    }
  }
  const applyReload = async (): Promise<string | ConfigChanges> => {
    const r = await source.load()
    if (!r.ok) {
      reconciler.rejectReload(`config reload rejected; keeping the last good config: ${r.problems}`)
      metrics.incFailedReloads()
      logger.error({ problems: r.problems }, 'config reload rejected; keeping the last good rules')
      return r.problems
    }
    // Compared with what the servers actually bound, not with the last config loaded.
    const changes = diffConfigs(config, r.config, bound)
    if (JSON.stringify(r.config.metrics ?? null) !== JSON.stringify(boundMetrics)) {
      changes.restartNeeded.push(`metrics ${r.config.metrics ? `${r.config.metrics.address}:${r.config.metrics.port}` : 'on the health port'} takes effect at the next restart of fwdd; /metrics stays where it is until then`)
    }
    config = r.config
    if (azure) await azure.reconfigure(config)
    else if (needsAzure(config)) azure = await startAzure(config)
    await reconciler.reload(config)
    metrics.relabel()
    logger.info({ changes: describeChanges(changes) }, 'config reloaded')
    if (changes.restartNeeded.length > 0) logger.warn({ restartNeeded: changes.restartNeeded }, 'some changes wait for a restart of fwdd')
    return changes
  }
  // A flood of `fwdctl rules` costs one iptables-save per second, not one per request.
  const rulesText = singleFlight(clock, 1000, () => dataplane.rulesText())
  const control = buildControlServer({
    status: statusWithTraffic,
    rules: () => rulesText.get(),
    config: async () => ({ source: source.describe(), config }),
    reload,
    setDraining: async (d) => {
      // Drain takes effect at once; saving it is what lets it survive a restart.
      reconciler.setDraining(d)
      logger.info({ draining: d }, d ? 'draining: /lb answers 503, forwarding goes on' : 'undrained')
      try {
        await drain.save(d)
      } catch (err: unknown) {
        logger.error({ err: messageOf(err) }, 'drain state could not be saved; it will not survive a restart')
        throw new Error(`${d ? 'draining' : 'undrained'} now, but the state could not be saved (${messageOf(err)}): it will not survive a restart; free or fix ${args.stateDir}`)
      }
    },
  })
  await mkdir(path.dirname(args.socket), { recursive: true, mode: 0o755 })
  await listenControl(control, args.socket)
  await health.listen({ port: config.health.port, host: config.health.address })
  if (metricsServer && config.metrics) await metricsServer.listen({ port: config.metrics.port, host: config.metrics.address })
  logger.info({
    backend: backend.name, socket: args.socket, health: `${config.health.address}:${config.health.port}`, version: VERSION,
    ...(config.metrics ? { metrics: `${config.metrics.address}:${config.metrics.port}` } : {}),
    listeners: config.listeners.map((l) => `${l.name} ${l.protocol}/${l.port}`),
  }, 'fwdd started')

  const maxTimeout = Math.max(0, ...config.listeners.map((l) => l.check.timeoutMs))
  // Nothing adopted: the rules are written while the first health round is out (Reconciler.start).
  await reconciler.start(maxTimeout + 500, { prewrite: !adopted })
  source.watch(() => void reload())

  // Every period on the one monotonic clock: the verify-and-repair resync (its period read anew
  // after each run, so a reload changes it at once, and stretched when a verify is slow:
  // verify-period.ts) and the IP forwarding check.
  const scheduler = new Scheduler(clock, logger.child({ component: 'scheduler' }))
  scheduler.every('resync', () => verifyPeriodMs(config.sync.resyncSeconds, reconciler.lastFullVerifyMs), async () => {
    await checkForwarding(true)
    reconciler.request(true)
  })
  scheduler.every('ip-forwarding', IP_FORWARD_CHECK_MS, () => checkForwarding(false))

  // Scheduled Events (issue 16): a Terminate/Reboot/Redeploy/Preempt for this instance drains it
  // (a second reason beside the operator's drain) and is approved once no forwarded flow is left.
  events = wantsScheduledEvents(config, args.configFrom)
    ? startScheduledEvents({ env, clock, logger, reconciler, flows: async () => (await readTraffic(reconciler.state)).totalFlows })
    : undefined
  // A change to the ruleset by another tool (nft monitor) is verified and repaired at once, and the
  // node reports not in sync until then; the periodic resync stays as the backstop.
  const stopWatch = dataplane.watch((change) => reconciler.driftSuspected(change))

  return await new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'stopping; rules stay in the kernel so forwarding goes on')
      stopWatch()
      scheduler.stop()
      reconciler.stop()
      azure?.stop()
      events?.stop()
      source.stop()
      process.off('unhandledRejection', onStray)
      void Promise.allSettled([health.close(), control.close(), metricsServer?.close()]).then(() => resolve(0))
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
    process.on('SIGHUP', () => void reload())
  })
}
