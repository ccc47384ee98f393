// The forwarders' NSG, on their NICs (so it applies the same in the demo network and in an
// existing hub, where the subnet and its own NSG are yours). Inbound: the LB probe to the health
// port and the PLS NAT subnet to the listener ports; the rest of the virtual network is denied
// those ports, so the NSG and fwdd's own `sources` say the same thing.
//
// Priorities: 100 probe, 200 + i allow and 1200 + i deny for listener i (at most 300 listeners,
// main.bicep's limit, so the ranges 200-499 and 1200-1499 never meet), 4000 the health-port deny.

import { listener } from 'types.bicep'

param location string
param namePrefix string
@maxLength(300)
param listeners listener[]
param healthPort int
param plsNatSubnetPrefix string

var protocolNames = { tcp: 'Tcp', udp: 'Udp' }

var fixedRules = [
  {
    name: 'allow-lb-probe-to-health-port'
    properties: {
      priority: 100
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefix: 'AzureLoadBalancer'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: string(healthPort)
    }
  }
  {
    name: 'deny-vnet-to-health-port'
    properties: {
      priority: 4000
      direction: 'Inbound'
      access: 'Deny'
      protocol: '*'
      sourceAddressPrefix: 'VirtualNetwork'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: string(healthPort)
    }
  }
]

var allowRules = [for (l, i) in listeners: {
  name: 'allow-pls-to-${l.name}'
  properties: {
    priority: 200 + i
    direction: 'Inbound'
    access: 'Allow'
    protocol: protocolNames[l.?protocol ?? 'tcp']
    sourceAddressPrefix: plsNatSubnetPrefix
    sourcePortRange: '*'
    destinationAddressPrefix: '*'
    destinationPortRange: string(l.port)
  }
}]

var denyRules = [for (l, i) in listeners: {
  name: 'deny-vnet-to-${l.name}'
  properties: {
    priority: 1200 + i
    direction: 'Inbound'
    access: 'Deny'
    protocol: protocolNames[l.?protocol ?? 'tcp']
    sourceAddressPrefix: 'VirtualNetwork'
    sourcePortRange: '*'
    destinationAddressPrefix: '*'
    destinationPortRange: string(l.port)
  }
}]

resource nsg 'Microsoft.Network/networkSecurityGroups@2025-05-01' = {
  name: '${namePrefix}-forwarders-nsg'
  location: location
  properties: {
    securityRules: concat(fixedRules, allowRules, denyRules)
  }
}

output id string = nsg.id
