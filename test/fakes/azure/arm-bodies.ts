/**
 * ARM resource bodies shaped like the real API's GET responses (Microsoft.Network 2024-xx /
 * Microsoft.Compute 2024-07-01: `id`, `name`, `type`, `etag`, `location`, nested `properties`,
 * child resources with their own ids and `properties`, `provisioningState` everywhere). The fake
 * ARM serves these; tests build a whole deployment with `buildDeployment` and then break one thing.
 */

const etag = (n = 1) => `W/"00000000-0000-0000-0000-${String(n).padStart(12, '0')}"`
const nameOf = (id: string) => id.split('/').pop()!

/** `GET .../ipGroups/<name>`; `ipAddresses` is `unknown` so tests can send malformed values. */
export function ipGroupBody(id: string, ipAddresses: unknown, location = 'westeurope'): Record<string, unknown> {
  return {
    name: nameOf(id), id, etag: etag(), type: 'Microsoft.Network/ipGroups', location, tags: {},
    properties: { provisioningState: 'Succeeded', ipAddresses, firewalls: [], firewallPolicies: [] },
  }
}

/** The parts of a Private Link Service the checks and reads look at. */
export interface PlsSpec {
  id: string
  frontendIds: string[]
  natIps: string[]
  subnetId: string
  enableProxyProtocol?: boolean
  connections?: Array<{ name: string; status: 'Approved' | 'Pending' | 'Rejected' | 'Disconnected' }>
}

/** `GET .../privateLinkServices/<name>`, with NAT IP configurations and private endpoint connections. */
export function privateLinkServiceBody(spec: PlsSpec, location = 'westeurope'): Record<string, unknown> {
  const name = nameOf(spec.id)
  return {
    name, id: spec.id, etag: etag(), type: 'Microsoft.Network/privateLinkServices', location,
    properties: {
      provisioningState: 'Succeeded',
      loadBalancerFrontendIpConfigurations: spec.frontendIds.map((id) => ({ id })),
      ipConfigurations: spec.natIps.map((ip, i) => ({
        name: `${name}-nat-${i}`,
        id: `${spec.id}/ipConfigurations/${name}-nat-${i}`,
        etag: etag(),
        type: 'Microsoft.Network/privateLinkServices/ipConfigurations',
        properties: {
          provisioningState: 'Succeeded', privateIPAddress: ip, privateIPAllocationMethod: 'Static',
          subnet: { id: spec.subnetId }, primary: i === 0, privateIPAddressVersion: 'IPv4',
        },
      })),
      networkInterfaces: [{ id: `${spec.id.split('/providers/')[0]}/providers/Microsoft.Network/networkInterfaces/${name}.nic.00000000-0000-0000-0000-000000000000` }],
      privateEndpointConnections: (spec.connections ?? []).map((c) => ({
        name: c.name,
        id: `${spec.id}/privateEndpointConnections/${c.name}`,
        etag: etag(),
        type: 'Microsoft.Network/privateLinkServices/privateEndpointConnections',
        properties: {
          provisioningState: 'Succeeded',
          privateEndpoint: { id: `/subscriptions/aaaaaaaa-0000-0000-0000-000000000000/resourceGroups/consumer/providers/Microsoft.Network/privateEndpoints/${c.name}` },
          privateLinkServiceConnectionState: { status: c.status, description: c.status === 'Pending' ? 'awaiting approval' : '', actionsRequired: '' },
          linkIdentifier: '536890208',
        },
      })),
      visibility: { subscriptions: [] },
      autoApproval: { subscriptions: [] },
      fqdns: [],
      alias: `${name}.00000000-0000-0000-0000-000000000000.westeurope.azure.privatelinkservice`,
      enableProxyProtocol: spec.enableProxyProtocol ?? false,
    },
  }
}

/** A load balancer probe. */
export interface ProbeSpec { name: string; protocol: 'Http' | 'Https' | 'Tcp'; port: number; requestPath?: string }
/** A load-balancing rule; `probe` and `frontend` are names within the same LB. */
export interface RuleSpec {
  name: string; protocol: 'Tcp' | 'Udp' | 'All'; frontendPort: number; backendPort: number
  probe?: string; enableFloatingIP?: boolean; frontend?: string
}
/** A Standard internal load balancer. */
export interface LoadBalancerSpec {
  id: string
  frontends: Array<{ name: string; privateIp: string }>
  pools: Array<{ name: string; members: string[] }>
  probes: ProbeSpec[]
  rules: RuleSpec[]
  subnetId: string
}

/** `GET .../loadBalancers/<name>` with every child resource expanded, as ARM returns it. */
export function loadBalancerBody(spec: LoadBalancerSpec, location = 'westeurope'): Record<string, unknown> {
  const child = (kind: string, name: string) => `${spec.id}/${kind}/${name}`
  const firstFrontend = spec.frontends[0]?.name ?? 'frontend'
  const firstPool = spec.pools[0]?.name ?? 'pool'
  return {
    name: nameOf(spec.id), id: spec.id, etag: etag(), type: 'Microsoft.Network/loadBalancers', location,
    sku: { name: 'Standard', tier: 'Regional' },
    properties: {
      provisioningState: 'Succeeded',
      resourceGuid: '00000000-0000-0000-0000-00000000abcd',
      frontendIPConfigurations: spec.frontends.map((f) => ({
        name: f.name, id: child('frontendIPConfigurations', f.name), etag: etag(),
        type: 'Microsoft.Network/loadBalancers/frontendIPConfigurations',
        properties: {
          provisioningState: 'Succeeded', privateIPAddress: f.privateIp, privateIPAllocationMethod: 'Static',
          subnet: { id: spec.subnetId }, privateIPAddressVersion: 'IPv4',
          loadBalancingRules: spec.rules.filter((r) => (r.frontend ?? firstFrontend) === f.name).map((r) => ({ id: child('loadBalancingRules', r.name) })),
        },
      })),
      backendAddressPools: spec.pools.map((p) => ({
        name: p.name, id: child('backendAddressPools', p.name), etag: etag(),
        type: 'Microsoft.Network/loadBalancers/backendAddressPools',
        properties: {
          provisioningState: 'Succeeded',
          backendIPConfigurations: p.members.map((id) => ({ id })),
          loadBalancingRules: spec.rules.map((r) => ({ id: child('loadBalancingRules', r.name) })),
        },
      })),
      loadBalancingRules: spec.rules.map((r) => ({
        name: r.name, id: child('loadBalancingRules', r.name), etag: etag(),
        type: 'Microsoft.Network/loadBalancers/loadBalancingRules',
        properties: {
          provisioningState: 'Succeeded',
          frontendIPConfiguration: { id: child('frontendIPConfigurations', r.frontend ?? firstFrontend) },
          backendAddressPool: { id: child('backendAddressPools', firstPool) },
          backendAddressPools: [{ id: child('backendAddressPools', firstPool) }],
          ...(r.probe ? { probe: { id: child('probes', r.probe) } } : {}),
          protocol: r.protocol, loadDistribution: 'Default',
          frontendPort: r.frontendPort, backendPort: r.backendPort, idleTimeoutInMinutes: 4,
          enableFloatingIP: r.enableFloatingIP ?? false, enableTcpReset: false, disableOutboundSnat: true,
        },
      })),
      probes: spec.probes.map((p) => ({
        name: p.name, id: child('probes', p.name), etag: etag(), type: 'Microsoft.Network/loadBalancers/probes',
        properties: {
          provisioningState: 'Succeeded', protocol: p.protocol, port: p.port,
          ...(p.requestPath !== undefined ? { requestPath: p.requestPath } : {}),
          intervalInSeconds: 5, numberOfProbes: 1, probeThreshold: 1,
          loadBalancingRules: spec.rules.filter((r) => r.probe === p.name).map((r) => ({ id: child('loadBalancingRules', r.name) })),
        },
      })),
      inboundNatRules: [], inboundNatPools: [], outboundRules: [],
    },
  }
}

/** A uniform scale set whose NIC configuration joins `poolIds`. */
export function scaleSetBody(id: string, poolIds: string[], subnetId: string, location = 'westeurope'): Record<string, unknown> {
  return {
    name: nameOf(id), id, type: 'Microsoft.Compute/virtualMachineScaleSets', location,
    sku: { name: 'Standard_D2s_v5', tier: 'Standard', capacity: 2 },
    properties: {
      singlePlacementGroup: false, orchestrationMode: 'Uniform', upgradePolicy: { mode: 'Manual' },
      provisioningState: 'Succeeded', uniqueId: '00000000-0000-0000-0000-0000000000ff', overprovision: false,
      virtualMachineProfile: {
        osProfile: { computerNamePrefix: nameOf(id), adminUsername: 'azureuser', linuxConfiguration: { disablePasswordAuthentication: true } },
        storageProfile: { imageReference: { publisher: 'canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' } },
        networkProfile: {
          networkInterfaceConfigurations: [{
            name: 'nic',
            properties: {
              primary: true, enableAcceleratedNetworking: false, enableIPForwarding: true, dnsSettings: { dnsServers: [] },
              ipConfigurations: [{
                name: 'ipconfig',
                properties: {
                  primary: true, subnet: { id: subnetId }, privateIPAddressVersion: 'IPv4',
                  loadBalancerBackendAddressPools: poolIds.map((pid) => ({ id: pid })),
                },
              }],
            },
          }],
        },
      },
    },
  }
}

/** A scale set VM's NIC as `.../virtualMachines/<i>/networkInterfaces` lists it. */
export function scaleSetNicBody(nicId: string, vmId: string, poolIds: string[], privateIp: string, subnetId: string): Record<string, unknown> {
  return {
    name: nameOf(nicId), id: nicId, etag: etag(),
    properties: {
      provisioningState: 'Succeeded', resourceGuid: '00000000-0000-0000-0000-0000000000ee',
      ipConfigurations: [{
        name: 'ipconfig', id: `${nicId}/ipConfigurations/ipconfig`, etag: etag(),
        properties: {
          provisioningState: 'Succeeded', privateIPAddress: privateIp, privateIPAllocationMethod: 'Dynamic',
          subnet: { id: subnetId }, primary: true, privateIPAddressVersion: 'IPv4',
          loadBalancerBackendAddressPools: poolIds.map((id) => ({ id })),
        },
      }],
      dnsSettings: { dnsServers: [], appliedDnsServers: [] },
      macAddress: '00-0D-3A-00-00-01', enableAcceleratedNetworking: false, enableIPForwarding: true,
      primary: true, virtualMachine: { id: vmId },
    },
  }
}
