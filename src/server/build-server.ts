/**
 * The HTTP surface on the health port (CONTRACT.md "Health endpoints"): the Azure LB probes
 * (`/lb/<listener>`, `/lb`), the ApplicationHealthLinux extension (`/health`) and Prometheus
 * (`/metrics`). Built here, listened on by `main` (fastify's testing guide), so every route is
 * tested with `inject()`.
 *
 * The port faces the network, so bodies are fixed short strings and reason codes: never an address,
 * never an echo of the request. Only GET and HEAD exist; anything else is 405 (known or unknown
 * path), an unknown GET path is 404.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import type { Status } from '../status.js'
import { systemClock, type Clock } from '../clock.js'
import { limitRequests } from './rate-limit.js'

/** The node's own health, as `/health` reports it (never the targets'). */
export interface NodeHealth {
  healthy: boolean
  /** Short codes such as `not-in-sync`, `ip-forwarding-off`, `apply-failing`; no addresses. */
  reasons: string[]
}

/** What the server reads on each request; all of it is called per request, so keep it cheap. */
export interface HealthServerDeps {
  /**
   * `listener.serving` already means in sync, not draining and a target in rotation. The probes read
   * the node and each listener's verdict only: a listener's `targets` may be left empty.
   */
  status(): Status
  nodeHealth(): NodeHealth
  /** Prometheus exposition text (version 0.0.4). */
  metricsText(): Promise<string>
  /**
   * Which routes this server has: `all` (the default: probes, /health and /metrics on the health
   * port, as before), `probes` (no /metrics: it has its own listen address, config `metrics:`), or
   * `metrics` (only /metrics, for that address).
   */
  routes?: 'all' | 'probes' | 'metrics'
  /** Used for the server's own log lines; per-request logging is off (probes come every few seconds). */
  logger?: Logger | false
  /** Overrides for tests; production uses `HEALTH_SERVER_TIMEOUTS`. */
  timeouts?: Partial<HealthServerTimeouts>
  /** Overrides for tests; production uses `HEALTH_SERVER_LIMITS`. */
  limits?: Partial<ConnectionLimits>
  /** For the request rate limit and `settleMs`; the system clock unless a test injects one. */
  clock?: Clock
  /**
   * A `/lb` answer of 200 waits this long (and one turn of the event loop) and reads the status
   * again; 503s go at once. Why: the ruleset watch (an `nft monitor` child) tells the daemon of
   * another tool's flush a few ms after the kernel made it, and a probe that arrived in between
   * was told 200 for rules already broken (1 of 660 probes in the 2026-12-07c curve). With the wait,
   * a change made before the probe arrived is in the answer unless the watch lags by more than
   * this. 0 (the default): no wait.
   */
  settleMs?: number
}

/**
 * Caps on open connections, so nobody who can reach the port (sources or not) can exhaust the
 * daemon's file descriptors. The Azure LB probe comes from one fixed address and the health
 * extension from loopback: their connections are never refused by the caps, so the probe is
 * answered however many other connections are open.
 */
export interface ConnectionLimits {
  /** Open connections from all other addresses together. */
  maxConnections: number
  /** Open connections from any one other address. */
  perSource: number
  /** Addresses whose connections are always accepted (the LB probe's, loopback). */
  reserved: readonly string[]
  /** Requests per second from any one other address (its connection is closed past it). */
  requestsPerSecond: number
  requestBurst: number
}

/** 168.63.129.16 is the Azure platform address the Load Balancer's health probes come from. */
export const HEALTH_SERVER_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  maxConnections: 256,
  perSource: 16,
  // Prometheus scrapes every few seconds; a few monitors and curious operators stay far below this.
  requestsPerSecond: 20,
  requestBurst: 40,
  reserved: Object.freeze(['168.63.129.16', '127.0.0.1', '::1', '::ffff:127.0.0.1', '::ffff:168.63.129.16']),
})

/**
 * Enforces `limits` on a server's connections: one over a cap is closed at once, before it costs a
 * parser or a timer. Returns the counts, for tests and metrics.
 */
export function limitConnections(server: import('node:net').Server, limits: ConnectionLimits): { open(): number; refused(): number } {
  const reserved = new Set(limits.reserved)
  const bySource = new Map<string, number>()
  let others = 0
  let refused = 0
  server.on('connection', (socket: import('node:net').Socket) => {
    const from = socket.remoteAddress ?? ''
    if (reserved.has(from)) return
    const n = bySource.get(from) ?? 0
    if (others >= limits.maxConnections || n >= limits.perSource) {
      refused++
      socket.destroy()
      return
    }
    others++
    bySource.set(from, n + 1)
    socket.once('close', () => {
      others--
      const left = (bySource.get(from) ?? 1) - 1
      if (left <= 0) bySource.delete(from)
      else bySource.set(from, left)
    })
  })
  return { open: () => others, refused: () => refused }
}

/** Socket and request bounds (milliseconds, bytes) that keep a slow or hostile client cheap. */
export interface HealthServerTimeouts {
  /** Idle socket timeout (node's `server.timeout`): a silent client is dropped after this. */
  connectionTimeout: number
  /** Whole request (headers included) must arrive within this. */
  requestTimeout: number
  /** How long an idle keep-alive connection stays open; probes reconnect cheaply. */
  keepAliveTimeout: number
  /** Cap for the whole route lifecycle; /metrics collection must not hang a socket. */
  handlerTimeout: number
  /** No route takes a body; anything larger is refused with 413. */
  bodyLimit: number
  /** Listener names are at most 16 characters; longer path parameters are 404. */
  maxParamLength: number
}

/**
 * The bounds used in production. Azure LB probes and the health extension each send a small GET
 * every few seconds and time out after a few seconds themselves, so nothing legitimate needs more.
 */
export const HEALTH_SERVER_TIMEOUTS: Readonly<HealthServerTimeouts> = Object.freeze({
  connectionTimeout: 10_000,
  requestTimeout: 5_000,
  keepAliveTimeout: 5_000,
  handlerTimeout: 3_000,
  bodyLimit: 1024,
  maxParamLength: 32,
})

/** Content type of `/metrics` (Prometheus text format 0.0.4, as prom-client's registry reports it). */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** The exact `/health` bodies (CONTRACT.md). No `customMetrics`: see `healthBody`. */
export const HEALTH_BODY_HEALTHY = '{"ApplicationHealthState":"Healthy"}'
export const HEALTH_BODY_UNHEALTHY = '{"ApplicationHealthState":"Unhealthy"}'

const ALLOW = 'GET, HEAD'

/**
 * Why a listener does not serve, as its reason code. The daemon decided it (node-status.ts); this
 * only reads it.
 */
function notServingReason(status: Status, listener: { serving: boolean; reason?: string | null }): string | null {
  // The node-wide verdicts win even over a listener that claims to serve (defence in depth).
  if (status.node.draining) return 'draining'
  if (!status.node.inSync) return 'not-in-sync'
  if (listener.serving) return null
  return listener.reason ?? 'no-target-in-rotation'
}

function sendText(reply: FastifyReply, code: number, body: string): FastifyReply {
  return reply.code(code).header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-store').send(body)
}

/**
 * Builds the health server without listening. Routes:
 * - `GET|HEAD /lb/:name`: 200 `ok` when that listener serves, 503 `unavailable: <reason>` when not
 *   (reasons: `draining`, `not-in-sync`, `no-target-in-rotation`), 404 for an unknown listener.
 * - `GET|HEAD /lb`: 200 when every listener serves; 503 when any does not, and also when there are
 *   no listeners at all (`unavailable: no-listeners`): a node with nothing to forward must not draw
 *   LB traffic, e.g. before an IMDS-sourced config has arrived.
 * - `GET|HEAD /health`: always 200 with exactly `HEALTH_BODY_HEALTHY` or `HEALTH_BODY_UNHEALTHY`;
 *   a `nodeHealth()` that throws counts as Unhealthy. Changes are logged once with their reasons.
 * - `GET|HEAD /metrics`: the exposition text; 500 `metrics unavailable` if collection fails.
 * If `status()` throws, every `/lb*` route answers 503 `unavailable: status-error`.
 */
export function buildServer(deps: HealthServerDeps): FastifyInstance {
  const t = { ...HEALTH_SERVER_TIMEOUTS, ...deps.timeouts }
  // Bound once: a logger that already carries the component (main.ts passes one) must not get it
  // twice, as duplicate JSON keys break strict log parsers.
  const log = deps.logger === false || deps.logger === undefined ? undefined
    : deps.logger.bindings().component === undefined ? deps.logger.child({ component: 'health-server' }) : deps.logger
  const app = Fastify({
    // fastify's own lines ("Server listening at ...", one per address) are info: at warn they are
    // left out, and the daemon's single "fwdd started" line says what listens where.
    ...(log ? { loggerInstance: log.child({}, { level: log.levelVal > 40 ? log.level : 'warn' }) as FastifyBaseLogger } : { logger: false }),
    logController: new LogController({ disableRequestLogging: true }),
    connectionTimeout: t.connectionTimeout,
    requestTimeout: t.requestTimeout,
    keepAliveTimeout: t.keepAliveTimeout,
    handlerTimeout: t.handlerTimeout,
    bodyLimit: t.bodyLimit,
    maxRequestsPerSocket: 100,
    exposeHeadRoutes: true,
    return503OnClosing: true,
    requestIdHeader: false,
    routerOptions: { maxParamLength: t.maxParamLength, ignoreTrailingSlash: false },
    // Routing errors quote the path by default, which would echo whatever the client sent.
    frameworkErrors: (error, request, reply) => {
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return sendText(reply, 404, 'not found\n')
      return sendText(reply, error.code === 'FST_ERR_BAD_URL' ? 400 : 500, 'bad request\n')
    },
  })

  const routes = deps.routes ?? 'all'
  const limits = { ...HEALTH_SERVER_LIMITS, ...deps.limits }
  limitConnections(app.server, limits)
  limitRequests(app, { perSecond: limits.requestsPerSecond, burst: limits.requestBurst, reserved: limits.reserved }, deps.clock ?? systemClock)

  const readStatus = (): Status | null => {
    try {
      return deps.status()
    } catch (error: unknown) {
      log?.error({ err: error }, 'reading status for the lb probe')
      return null
    }
  }

  const settleMs = deps.settleMs ?? 0
  const clock = deps.clock ?? systemClock
  /** Runs `answer` on the status; an answer of 200 only after settleMs (see HealthServerDeps). */
  const lbAnswer = async (answer: (status: Status) => [number, string]): Promise<[number, string]> => {
    const first = readStatus()
    if (!first) return [503, 'unavailable: status-error\n']
    const [code, body] = answer(first)
    if (code !== 200 || settleMs <= 0) return [code, body]
    await new Promise<void>((r) => clock.setTimeout(r, settleMs))
    // After the timers, the event loop reads pending I/O (the watch's lines) before it runs this.
    await new Promise<void>((r) => setImmediate(r))
    const then = readStatus()
    return then ? answer(then) : [503, 'unavailable: status-error\n']
  }

  if (routes !== 'metrics') app.get<{ Params: { name: string } }>('/lb/:name', async (request, reply) => {
    const [code, body] = await lbAnswer((status) => {
      const listener = status.listeners.find((l) => l.name === request.params.name)
      if (!listener) return [404, 'unknown listener\n']
      const reason = notServingReason(status, listener)
      return reason ? [503, `unavailable: ${reason}\n`] : [200, 'ok\n']
    })
    return sendText(reply, code, body)
  })

  if (routes !== 'metrics') app.get('/lb', async (_request, reply) => {
    const [code, body] = await lbAnswer((status) => {
      if (status.listeners.length === 0) return [503, 'unavailable: no-listeners\n']
      const notServing = status.listeners.filter((l) => notServingReason(status, l) !== null)
      const down = notServing.length
      if (down === 0) return [200, 'ok\n']
      const reason = notServingReason(status, notServing[0]!)
      return [503, `unavailable: ${reason} (${down} of ${status.listeners.length} listeners)\n`]
    })
    return sendText(reply, code, body)
  })

  let lastHealthy: boolean | undefined
  if (routes !== 'metrics') app.get('/health', async (_request, reply) => {
    let health: NodeHealth
    try {
      health = deps.nodeHealth()
    } catch (error: unknown) {
      log?.error({ err: error }, 'computing node health')
      health = { healthy: false, reasons: ['health-error'] }
    }
    if (health.healthy !== lastHealthy) {
      log?.[health.healthy ? 'info' : 'warn']({ healthy: health.healthy, reasons: health.reasons }, 'node health changed')
      lastHealthy = health.healthy
    }
    return reply
      .code(200)
      .header('content-type', 'application/json; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(health.healthy ? HEALTH_BODY_HEALTHY : HEALTH_BODY_UNHEALTHY)
  })

  if (routes !== 'probes') app.get('/metrics', async (_request, reply) => {
    try {
      const text = await deps.metricsText()
      return reply.code(200).header('content-type', METRICS_CONTENT_TYPE).header('cache-control', 'no-store').send(text)
    } catch (error: unknown) {
      log?.error({ err: error }, 'collecting metrics')
      return sendText(reply, 500, 'metrics unavailable\n')
    }
  })

  app.setNotFoundHandler(async (request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return sendText(reply.header('allow', ALLOW), 405, 'method not allowed\n')
    }
    return sendText(reply, 404, 'not found\n')
  })

  // Framework errors (oversized body, bad content type, handler timeout) keep their status code but
  // lose their message: messages can quote the request.
  app.setErrorHandler(async (error: unknown, _request, reply) => {
    const code = typeof error === 'object' && error !== null && 'statusCode' in error ? Number(error.statusCode) : 500
    const status = Number.isInteger(code) && code >= 400 && code < 600 ? code : 500
    if (status >= 500) log?.error({ err: error }, 'health server request failed')
    return sendText(reply, status, status === 405 ? 'method not allowed\n' : `error ${status}\n`)
  })

  return app
}
