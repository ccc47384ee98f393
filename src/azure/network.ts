/**
 * ARM clients and the two reads behind Azure-sourced sets: the addresses of an IP Group (targets)
 * and the NAT IPs of a Private Link Service (sources). Everything is read through the real
 * `NetworkManagementClient`, pointed at `FWDD_ARM_ENDPOINT`.
 *
 * The SDK's own retries are off (`maxRetries: 0`): the sets refresher owns backoff, honours
 * Retry-After itself and must never be held inside one call for minutes.
 */
import { NetworkManagementClient } from '@azure/arm-network'
import type { TokenCredential } from '@azure/identity'
import { DEFAULT_ARM_ENDPOINT } from './endpoints.js'
import { parseTypedResourceId } from './resource-id.js'
import type { ErrorCode } from '../errors.js'

/** Client options for tests: extra CA certificates for an in-process fake ARM (the daemon uses NODE_EXTRA_CA_CERTS). */
export interface ArmTlsOptions {
  ca?: string | Buffer
}

/** The credential and endpoint every client of the cache shares. */
export interface NetworkClientsOptions {
  credential: TokenCredential
  /** ARM origin (`azureEndpointsFromEnv().arm`); default the public cloud. */
  armEndpoint?: string
  tls?: ArmTlsOptions
}

/**
 * One `NetworkManagementClient` per subscription, created on first use and reused: resource ids
 * in the config may live in subscriptions other than the instance's.
 */
export interface NetworkClients {
  forSubscription(subscriptionId: string): NetworkManagementClient
  readonly armEndpoint: string
}

/** Builds the client cache. No request is sent until a read is made. */
export function createNetworkClients(options: NetworkClientsOptions): NetworkClients {
  const armEndpoint = options.armEndpoint ?? DEFAULT_ARM_ENDPOINT
  const clients = new Map<string, NetworkManagementClient>()
  return {
    armEndpoint,
    forSubscription(subscriptionId) {
      const key = subscriptionId.toLowerCase()
      let client = clients.get(key)
      if (!client) {
        client = new NetworkManagementClient(options.credential, subscriptionId, {
          endpoint: armEndpoint,
          $host: armEndpoint,
          credentialScopes: [`${armEndpoint}/.default`],
          retryOptions: { maxRetries: 0 },
          ...(options.tls?.ca ? { tlsOptions: { ca: options.tls.ca } } : {}),
        })
        clients.set(key, client)
      }
      return client
    },
  }
}

/** A body that arrived but is not what ARM documents; the set it would have produced is not used. */
export class AzureInvalidResponseError extends Error {
  /** Its code in the catalogue (src/errors.ts). */
  readonly code: ErrorCode = 'FWD_ERR_AZURE_INVALID_RESPONSE'
  constructor(message: string) {
    super(message)
    this.name = 'AzureInvalidResponseError'
  }
}

/** The addresses of an IP Group that can be targets, and the entries that cannot. */
export interface IpGroupAddresses {
  /** Single IPv4 addresses (an `a.b.c.d/32` entry is written as `a.b.c.d`), sorted, unique. */
  addresses: string[]
  /** Entries that are CIDRs wider than /32 or not IPv4 at all; they are left out of `addresses`. */
  ignored: string[]
}

/**
 * Reads an IP Group and returns its single addresses. A wider CIDR cannot be a DNAT target (which
 * of its addresses would get traffic?), so it is listed in `ignored` for the caller to report
 * rather than expanded. Throws `AzureInvalidResponseError` when `ipAddresses` is missing or not a
 * list of strings, and the SDK's `RestError` for HTTP failures; `signal` aborts the request.
 */
export async function readIpGroupAddresses(
  clients: NetworkClients,
  resourceId: string,
  signal?: AbortSignal,
): Promise<IpGroupAddresses> {
  const id = parseTypedResourceId(resourceId, 'Microsoft.Network/ipGroups')
  const group = await clients
    .forSubscription(id.subscriptionId)
    .ipGroups.get(id.resourceGroupName, id.name, signal ? { abortSignal: signal } : {})
  const entries: unknown = group?.ipAddresses
  if (!Array.isArray(entries) || entries.some((e) => typeof e !== 'string')) {
    throw new AzureInvalidResponseError(`IP Group ${id.name}: properties.ipAddresses is missing or not a list of strings`)
  }
  const addresses = new Set<string>()
  const ignored: string[] = []
  for (const entry of entries as string[]) {
    const single = singleIpv4(entry)
    if (single) addresses.add(single)
    else ignored.push(entry)
  }
  return { addresses: sortAddresses([...addresses]), ignored }
}

/**
 * Reads a Private Link Service and returns the private IPs of its NAT IP configurations, sorted
 * and unique: the addresses connections from private endpoints arrive from. Throws
 * `AzureInvalidResponseError` when the service has no NAT IP with an IPv4 address, because an
 * empty source list would mean "anyone" (CONTRACT.md) and must never come from a bad read.
 */
export async function readPrivateLinkServiceNatIps(
  clients: NetworkClients,
  resourceId: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const id = parseTypedResourceId(resourceId, 'Microsoft.Network/privateLinkServices')
  const service = await clients
    .forSubscription(id.subscriptionId)
    .privateLinkServices.get(id.resourceGroupName, id.name, signal ? { abortSignal: signal } : {})
  const configs: unknown = service?.ipConfigurations
  if (!Array.isArray(configs)) {
    throw new AzureInvalidResponseError(`Private Link Service ${id.name}: properties.ipConfigurations is missing`)
  }
  const ips = new Set<string>()
  for (const config of configs as Array<{ privateIPAddress?: unknown }>) {
    const ip = typeof config?.privateIPAddress === 'string' ? singleIpv4(config.privateIPAddress) : undefined
    if (ip) ips.add(ip)
  }
  if (ips.size === 0) {
    throw new AzureInvalidResponseError(`Private Link Service ${id.name}: no NAT IP configuration has an IPv4 privateIPAddress`)
  }
  return sortAddresses([...ips])
}

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`)

/** `a.b.c.d` or `a.b.c.d/32` → `a.b.c.d`; anything else → undefined. */
export function singleIpv4(entry: string): string | undefined {
  const trimmed = entry.trim()
  const [address, length, ...rest] = trimmed.split('/')
  if (rest.length > 0 || !address || !IPV4.test(address)) return undefined
  if (length !== undefined && length !== '32') return undefined
  return address
}

/** Numeric IPv4 order, so sets print and compare the same way every time. */
export function sortAddresses(addresses: string[]): string[] {
  const key = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0)
  return [...addresses].sort((a, b) => key(a) - key(b))
}
