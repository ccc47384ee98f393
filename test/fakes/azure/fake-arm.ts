/**
 * A fake Azure Resource Manager over HTTPS on 127.0.0.1 (random port), for the real
 * `NetworkManagementClient`. Resources are plain ARM-shaped bodies (see arm-bodies.ts) that tests
 * change at will; faults (429, 5xx, 403, timeouts, garbage, resets) can be queued for the next
 * matching requests. Strict where the real one is: a bearer token issued by the fake IMDS is
 * required (401 otherwise), `api-version` is required, unknown ids are 404 with ARM's error body.
 */
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TestTls } from './tls.js'

/** An HTTP answer, or `timeout` (held open), `garbage` (200 with HTML), `reset` (socket destroyed). */
export type ArmFault =
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | 'timeout'
  | 'garbage'
  | 'reset'

/** One request as the fake saw it, for assertions. */
export interface FakeArmRequest {
  method: string
  path: string
  apiVersion: string | undefined
  authorization: string | undefined
}

const armError = (code: string, message: string) => ({ error: { code, message } })

/** 429 as ARM throttling sends it. `retryAfter` is the header value (seconds or an HTTP date). */
export function throttled(retryAfter?: string): ArmFault {
  return {
    status: 429,
    headers: retryAfter !== undefined ? { 'retry-after': retryAfter } : {},
    body: armError('TooManyRequests', 'The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00.'),
  }
}

/** 500 as ARM sends it for a backend failure. */
export function serverError(status = 500): ArmFault {
  return { status, body: armError('InternalServerError', "Encountered internal server error. Diagnostic information: timestamp '20250101T000000Z', tracking id '00000000-0000-0000-0000-000000000000'.") }
}

/** 403 AuthorizationFailed naming the action, as ARM words it. */
export function forbidden(action: string, scope: string): ArmFault {
  return {
    status: 403,
    body: armError('AuthorizationFailed', `The client '99999999-0000-0000-0000-000000000000' with object id '99999999-0000-0000-0000-000000000000' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`),
  }
}

/** The fake ARM; `put` resources, `failNext` faults, read `requests`. */
export class FakeArm {
  readonly requests: FakeArmRequest[] = []
  private readonly resources = new Map<string, Record<string, unknown>>()
  private faults: Array<{ match: RegExp; fault: ArmFault }> = []
  private server: Server | undefined
  private held = new Set<ServerResponse>()

  /** `acceptToken` decides which bearer tokens are valid (normally `imds.issuedTokens.has`). */
  constructor(private readonly tls: TestTls, private readonly acceptToken: (token: string) => boolean) {}

  /** Origin for FWDD_ARM_ENDPOINT, e.g. `https://127.0.0.1:40321`. */
  get endpoint(): string {
    const address = this.server?.address() as AddressInfo | null
    if (!address) throw new Error('fake ARM is not listening')
    return `https://127.0.0.1:${address.port}`
  }

  async listen(): Promise<void> {
    this.server = createServer({ cert: this.tls.certPem, key: this.tls.keyPem }, (req, res) => this.handle(req, res))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy()
    this.held.clear()
    if (!this.server) return
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server!.close(() => resolve()))
  }

  /** Stores (or replaces) a resource body under its `id`. */
  put(body: Record<string, unknown>): void {
    const id = body.id
    if (typeof id !== 'string') throw new Error('resource body needs an id')
    this.resources.set(id.toLowerCase(), body)
  }

  /** Stores a body under an explicit id (for deliberately malformed bodies). */
  putRaw(id: string, body: Record<string, unknown>): void {
    this.resources.set(id.toLowerCase(), body)
  }

  delete(id: string): void {
    this.resources.delete(id.toLowerCase())
  }

  /** The stored body, for tests that change one field. */
  get(id: string): Record<string, unknown> | undefined {
    return this.resources.get(id.toLowerCase())
  }

  /** The next `count` requests whose path matches `match` (default: any) get `fault`. */
  failNext(fault: ArmFault, count = 1, match: RegExp = /./): void {
    for (let i = 0; i < count; i++) this.faults.push({ match, fault })
  }

  clearFaults(): void {
    this.faults = []
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1')
    const path = decodeURIComponent(url.pathname).replace(/\/+$/, '')
    const apiVersion = url.searchParams.get('api-version') ?? undefined
    const authorization = req.headers.authorization
    this.requests.push({ method: req.method ?? '', path, apiVersion, authorization })

    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1]
    if (!token) return sendJson(res, 401, armError('AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing."), { 'www-authenticate': 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token"' })
    if (!this.acceptToken(token)) return sendJson(res, 401, armError('InvalidAuthenticationToken', 'The access token is invalid.'))

    const faultIndex = this.faults.findIndex((f) => f.match.test(path))
    if (faultIndex >= 0) {
      const fault = this.faults.splice(faultIndex, 1)[0]!.fault
      if (fault === 'timeout') {
        this.held.add(res)
        res.on('close', () => this.held.delete(res))
        return
      }
      if (fault === 'reset') return void req.socket.destroy()
      if (fault === 'garbage') {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
        return void res.end('<html><body>upstream proxy error</body>')
      }
      return sendJson(res, fault.status, fault.body ?? {}, fault.headers)
    }
    if (req.method !== 'GET') return sendJson(res, 405, armError('MethodNotAllowed', 'the fake ARM serves GET only'))
    if (!apiVersion) return sendJson(res, 400, armError('MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests."))

    const body = this.resources.get(path.toLowerCase())
    if (body) return sendJson(res, 200, body)
    const list = this.list(path)
    if (list) return sendJson(res, 200, { value: list })
    const parts = path.split('/')
    return sendJson(res, 404, armError('ResourceNotFound', `The Resource '${parts.slice(-3).join('/')}' under resource group '${parts[4] ?? ''}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`))
  }

  /** Collection GETs: PLS by subscription or resource group, and a scale set VM's NICs. */
  private list(path: string): Array<Record<string, unknown>> | undefined {
    const lower = path.toLowerCase()
    const pls = /^\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+))?\/providers\/microsoft\.network\/privatelinkservices$/.exec(lower)
    if (pls) {
      const prefix = pls[2] ? `/subscriptions/${pls[1]}/resourcegroups/${pls[2]}/` : `/subscriptions/${pls[1]}/`
      return [...this.resources.entries()]
        .filter(([id]) => id.startsWith(prefix) && /\/providers\/microsoft\.network\/privatelinkservices\/[^/]+$/.test(id))
        .map(([, body]) => body)
    }
    if (/\/virtualmachinescalesets\/[^/]+\/virtualmachines\/[^/]+\/networkinterfaces$/.test(lower)) {
      return [...this.resources.entries()]
        .filter(([id]) => id.startsWith(`${lower}/`) && !id.slice(lower.length + 1).includes('/'))
        .map(([, body]) => body)
    }
    return undefined
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': '00000000-0000-0000-0000-000000000001', ...headers })
  res.end(JSON.stringify(body))
}
