/**
 * A fake Azure Instance Metadata Service on 127.0.0.1 (random port, plain HTTP like the real one):
 * instance metadata, userData and managed identity tokens. Strict like the real one: no
 * `Metadata: true` header → 400, no api-version → 400, an unknown user-assigned client id → 400.
 * Tokens it issues are recorded so the fake ARM can accept only those.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** The compute fields the fake serves (the rest of the document is fixed). */
export interface FakeInstance {
  subscriptionId: string
  resourceGroupName: string
  vmScaleSetName: string
  name: string
  resourceId: string
  location: string
  vmId: string
}

/** A status with a body, or `timeout` (the request is held until the fake closes). */
export type ImdsFault = { status: number; body?: string } | 'timeout'

/** One request as the fake saw it, for assertions. */
export interface FakeImdsRequest {
  path: string
  query: Record<string, string>
  metadataHeader: string | undefined
}

/** The fake IMDS; mutate `instance`, `userData` and the identity sets directly. */
export class FakeImds {
  readonly requests: FakeImdsRequest[] = []
  /** Access tokens issued so far (the fake ARM accepts exactly these). */
  readonly issuedTokens = new Set<string>()
  /** Client ids of user-assigned identities on this instance; tokens for others are refused. */
  userAssignedClientIds = new Set<string>(['11111111-2222-3333-4444-555555555555'])
  systemAssignedEnabled = true
  userData = ''
  /** Scheduled events served at `/metadata/scheduledevents` (as IMDS lists them). */
  scheduledEvents: Array<Record<string, unknown>> = []
  /** EventIds approved by a `POST` of `StartRequests`, in order; an approved event turns `Started`. */
  readonly approvals: string[] = []
  private incarnation = 1
  instance: FakeInstance
  private faults: Array<{ path: RegExp; fault: ImdsFault }> = []
  private server: Server | undefined
  private held = new Set<ServerResponse>()
  private tokenCounter = 0

  constructor(instance: FakeInstance) {
    this.instance = instance
  }

  /** Origin to put in FWDD_IMDS_ENDPOINT, e.g. `http://127.0.0.1:39123`. */
  get endpoint(): string {
    const address = this.server?.address() as AddressInfo | null
    if (!address) throw new Error('fake IMDS is not listening')
    return `http://127.0.0.1:${address.port}`
  }

  async listen(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy()
    this.held.clear()
    if (!this.server) return
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server!.close(() => resolve()))
  }

  /** The next `count` requests whose path matches `path` get `fault` instead of an answer. */
  failNext(path: RegExp, fault: ImdsFault, count = 1): void {
    for (let i = 0; i < count; i++) this.faults.push({ path, fault })
  }

  /** Sets userData from text (stored base64-encoded as Azure does). */
  setUserDataText(text: string): void {
    this.userData = Buffer.from(text, 'utf8').toString('base64')
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const query = Object.fromEntries(url.searchParams)
    const metadata = req.headers['metadata'] as string | undefined
    // msal-node asks for `/metadata/identity/oauth2/token/`; the real IMDS accepts the trailing slash.
    const path = url.pathname.replace(/\/+$/, '')
    this.requests.push({ path, query, metadataHeader: metadata })
    const faultIndex = this.faults.findIndex((f) => f.path.test(path))
    if (faultIndex >= 0) {
      const fault = this.faults.splice(faultIndex, 1)[0]!.fault
      if (fault === 'timeout') {
        this.held.add(res)
        return
      }
      return send(res, fault.status, fault.body ?? '{"error":"fault"}')
    }
    if (req.method === 'POST' && path === '/metadata/scheduledevents' && metadata === 'true' && query['api-version']) return this.approve(req, res)
    if (req.method !== 'GET') return send(res, 405, '{"error":"method not allowed"}')
    if (metadata !== 'true') {
      return send(res, 400, JSON.stringify({ error: 'Bad request. Required metadata header not specified' }))
    }
    if (!query['api-version']) {
      return send(res, 400, JSON.stringify({ error: 'Bad request. api-version was not specified in the request.' }))
    }
    switch (path) {
      case '/metadata/instance/compute':
        return send(res, 200, JSON.stringify(this.computeBody()))
      case '/metadata/instance/compute/userData':
        if (query.format !== 'text') return send(res, 400, JSON.stringify({ error: 'Bad request. Leaf nodes require format=text' }))
        return send(res, 200, this.userData, 'text/plain; charset=utf-8')
      case '/metadata/identity/oauth2/token':
        return this.token(res, query)
      case '/metadata/scheduledevents':
        return send(res, 200, JSON.stringify({ DocumentIncarnation: this.incarnation, Events: this.scheduledEvents }))
      default:
        return send(res, 404, JSON.stringify({ error: 'Not found' }))
    }
  }

  /** Adds an event (fields as IMDS names them; defaults: Scheduled, NotBefore in 10 minutes). */
  addScheduledEvent(e: { EventId: string; EventType: string; Resources: string[]; EventStatus?: string; NotBefore?: string }): void {
    this.scheduledEvents.push({ ResourceType: 'VirtualMachine', EventStatus: 'Scheduled', NotBefore: new Date(Date.now() + 600_000).toUTCString(), Description: 'fake', EventSource: 'Platform', DurationInSeconds: -1, ...e })
    this.incarnation++
  }

  /** `POST {"StartRequests":[{"EventId":...}]}`: records the approval; unknown ids are a 400, as on Azure. */
  private approve(req: IncomingMessage, res: ServerResponse): void {
    let text = ''
    req.on('data', (c: Buffer) => (text += c.toString('utf8')))
    req.on('end', () => {
      let ids: string[]
      try {
        ids = (JSON.parse(text) as { StartRequests: Array<{ EventId: string }> }).StartRequests.map((r) => r.EventId)
      } catch {
        return send(res, 400, JSON.stringify({ error: 'Bad request. Body must be {"StartRequests":[{"EventId":...}]}' }))
      }
      if (!ids.every((id) => this.scheduledEvents.some((e) => e.EventId === id))) return send(res, 400, JSON.stringify({ error: 'Bad request. Unknown EventId' }))
      this.approvals.push(...ids)
      for (const e of this.scheduledEvents) if (ids.includes(e.EventId as string)) Object.assign(e, { EventStatus: 'Started', NotBefore: '' })
      this.incarnation++
      send(res, 200, '')
    })
  }

  private token(res: ServerResponse, query: Record<string, string>): void {
    const resource = query.resource
    if (!resource) return send(res, 400, JSON.stringify({ error: 'invalid_request', error_description: 'Required query variable resource is missing' }))
    const clientId = query.client_id
    if (clientId ? !this.userAssignedClientIds.has(clientId) : !this.systemAssignedEnabled) {
      return send(res, 400, JSON.stringify({ error: 'invalid_request', error_description: 'Identity not found' }))
    }
    const token = `fake-token-${++this.tokenCounter}`
    this.issuedTokens.add(token)
    const now = Math.floor(Date.now() / 1000)
    send(res, 200, JSON.stringify({
      access_token: token,
      client_id: clientId ?? '99999999-0000-0000-0000-000000000000',
      expires_in: '86399',
      expires_on: String(now + 86399),
      ext_expires_in: '86399',
      not_before: String(now),
      resource,
      token_type: 'Bearer',
    }))
  }

  /** The compute document, shaped like `/metadata/instance/compute?api-version=2021-02-01`. */
  private computeBody(): Record<string, unknown> {
    return {
      azEnvironment: 'AzurePublicCloud',
      location: this.instance.location,
      name: this.instance.name,
      offer: 'ubuntu-24_04-lts',
      osType: 'Linux',
      platformFaultDomain: '0',
      platformUpdateDomain: '0',
      provider: 'Microsoft.Compute',
      publisher: 'canonical',
      resourceGroupName: this.instance.resourceGroupName,
      resourceId: this.instance.resourceId,
      sku: 'server',
      subscriptionId: this.instance.subscriptionId,
      tags: '',
      tagsList: [],
      userData: this.userData,
      version: '24.04.202501010',
      vmId: this.instance.vmId,
      vmScaleSetName: this.instance.vmScaleSetName,
      vmSize: 'Standard_D2s_v5',
      zone: '1',
    }
  }
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, server: 'Microsoft-IIS/10.0' })
  res.end(body)
}
