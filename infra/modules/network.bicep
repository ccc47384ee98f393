// Network: the hub (forwarders and the Private Link Service NAT IPs), the spoke (the Private
// Endpoint), the forwarders' NSG and their outbound path (a NAT gateway: an internal load
// balancer gives its backends none).

import { listener } from 'types.bicep'

param location string
param namePrefix string
param zones string[]
param listeners listener[]
param healthPort int
param hubAddressPrefix string
param forwarderSubnetPrefix string
param plsNatSubnetPrefix string
param spokeAddressPrefix string
param endpointSubnetPrefix string

var protocolNames = { tcp: 'Tcp', udp: 'Udp' }

// Inbound to the forwarders: the LB probe to the health port, and the PLS NAT IPs to the
// listener ports. Everything else from the virtual network to those ports is denied, so the
// NSG and fwdd's own `sources` say the same thing.
resource forwarderNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${namePrefix}-forwarders-nsg'
  location: location
  properties: {
    securityRules: concat(
      [
        {
          name: 'allow-lb-probe-to-health-port'
          properties: {
            priority: 100
            direction: 'Inbound'
            access: 'Allow'
            protocol: 'Tcp'
            sourceAddressPrefix: 'AzureLoadBalancer'
            sourcePortRange: '*'
            destinationAddressPrefix: forwarderSubnetPrefix
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
      ],
      [for (l, i) in listeners: {
        name: 'allow-pls-to-${l.name}'
        properties: {
          priority: 200 + i
          direction: 'Inbound'
          access: 'Allow'
          protocol: protocolNames[l.protocol]
          sourceAddressPrefix: plsNatSubnetPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: forwarderSubnetPrefix
          destinationPortRange: string(l.port)
        }
      }],
      [for (l, i) in listeners: {
        name: 'deny-vnet-to-${l.name}'
        properties: {
          priority: 3000 + i
          direction: 'Inbound'
          access: 'Deny'
          protocol: protocolNames[l.protocol]
          sourceAddressPrefix: 'VirtualNetwork'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: string(l.port)
        }
      }]
    )
  }
}

resource natIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: '${namePrefix}-nat-ip'
  location: location
  sku: { name: 'Standard', tier: 'Regional' }
  zones: zones
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

resource natGateway 'Microsoft.Network/natGateways@2024-05-01' = {
  name: '${namePrefix}-nat'
  location: location
  sku: { name: 'Standard' }
  properties: {
    idleTimeoutInMinutes: 4
    publicIpAddresses: [{ id: natIp.id }]
  }
}

resource hub 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: '${namePrefix}-hub'
  location: location
  properties: {
    addressSpace: { addressPrefixes: [hubAddressPrefix] }
    subnets: [
      {
        name: 'forwarders'
        properties: {
          addressPrefix: forwarderSubnetPrefix
          networkSecurityGroup: { id: forwarderNsg.id }
          natGateway: { id: natGateway.id }
          defaultOutboundAccess: false
        }
      }
      {
        // The PLS takes its NAT IPs here; network policies must be off for that.
        name: 'pls-nat'
        properties: {
          addressPrefix: plsNatSubnetPrefix
          privateLinkServiceNetworkPolicies: 'Disabled'
          defaultOutboundAccess: false
        }
      }
    ]
  }
}

resource spoke 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: '${namePrefix}-spoke'
  location: location
  properties: {
    addressSpace: { addressPrefixes: [spokeAddressPrefix] }
    subnets: [
      {
        name: 'endpoints'
        properties: {
          addressPrefix: endpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
          defaultOutboundAccess: false
        }
      }
    ]
  }
}

output hubVnetName string = hub.name
output spokeVnetId string = spoke.id
output forwarderSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', hub.name, 'forwarders')
output plsNatSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', hub.name, 'pls-nat')
output endpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', spoke.name, 'endpoints')
