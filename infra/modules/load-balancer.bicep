// The internal Standard load balancer in front of the forwarders: for each listener one rule
// and one HTTP probe on `/lb/<name>`, so a forwarder that cannot serve one listener (no healthy
// target, draining, rules out of sync) leaves the rotation for that listener only.

import { listener } from 'types.bicep'

param location string
param namePrefix string
param zones string[]
param subnetId string
@maxLength(300)
param listeners listener[]
param healthPort int

// Flows that come through the Private Link Service meet the PLS's own idle timeout first (about
// 4-5 minutes, fixed, no reset sent): this timer and its TCP reset only matter for clients that
// reach the frontend directly. Consumers of the PLS need TCP keepalives below 4 minutes.
@description('Minutes an idle flow is kept on the LB (4 to 100); a TCP reset is sent to both ends when it expires. Flows through the PLS hit its ~4-5 minute idle timeout first.')
@minValue(4)
@maxValue(100)
param idleTimeoutInMinutes int = 15

// AllProbedUp: when every forwarder probes down for a listener, keep sending new flows to all of
// them instead of dropping them. The DNAT rules stay in the kernel while fwdd restarts or if it
// crashes fleet-wide (say, after a bad config rollout), so the forwarders usually still forward;
// and when the on-premises targets really are all down, clients fail either way. Failing open is
// the better last resort for a forwarder whose data plane outlives its control plane.
@allowed(['AllProbedUp', 'AllProbedDown'])
param noHealthyBackendsBehavior string = 'AllProbedUp'

var lbName = '${namePrefix}-ilb'
var protocolNames = { tcp: 'Tcp', udp: 'Udp' }

resource lb 'Microsoft.Network/loadBalancers@2025-05-01' = {
  name: lbName
  location: location
  sku: { name: 'Standard', tier: 'Regional' }
  properties: {
    frontendIPConfigurations: [
      {
        name: 'frontend'
        // Zone-redundant with two or more zones, zonal with one, regional with none.
        zones: empty(zones) ? null : zones
        properties: {
          privateIPAllocationMethod: 'Dynamic'
          privateIPAddressVersion: 'IPv4'
          subnet: { id: subnetId }
        }
      }
    ]
    backendAddressPools: [{ name: 'forwarders' }]
    probes: [for l in listeners: {
      name: 'probe-${l.name}'
      properties: {
        protocol: 'Http'
        port: healthPort
        requestPath: '/lb/${l.name}'
        intervalInSeconds: 5
        probeThreshold: 2
        noHealthyBackendsBehavior: noHealthyBackendsBehavior
      }
    }]
    loadBalancingRules: [for l in listeners: {
      name: 'rule-${l.name}'
      properties: {
        frontendIPConfiguration: { id: resourceId('Microsoft.Network/loadBalancers/frontendIPConfigurations', lbName, 'frontend') }
        backendAddressPool: { id: resourceId('Microsoft.Network/loadBalancers/backendAddressPools', lbName, 'forwarders') }
        probe: { id: resourceId('Microsoft.Network/loadBalancers/probes', lbName, 'probe-${l.name}') }
        protocol: protocolNames[l.?protocol ?? 'tcp']
        frontendPort: l.port
        backendPort: l.port
        // Off: fwdd DNATs what arrives on the node's own address, as the listener port.
        enableFloatingIP: false
        // TCP only; a reset tells both ends at once instead of leaving half-open flows.
        enableTcpReset: (l.?protocol ?? 'tcp') == 'tcp'
        idleTimeoutInMinutes: idleTimeoutInMinutes
        loadDistribution: 'Default'
      }
    }]
  }
}

output id string = lb.id
output frontendIpConfigurationId string = resourceId('Microsoft.Network/loadBalancers/frontendIPConfigurations', lbName, 'frontend')
output backendPoolId string = resourceId('Microsoft.Network/loadBalancers/backendAddressPools', lbName, 'forwarders')
