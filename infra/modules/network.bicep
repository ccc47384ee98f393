// The demo network, made only when no existing subnets are given: a hub (forwarders, Private Link
// Service NAT IPs), a spoke (the Private Endpoint) and the forwarders' outbound path (a NAT
// gateway: an internal load balancer gives its backends none). In an existing hub these are yours.

param location string
param namePrefix string
@description('Zones of the NAT gateway\'s public IP; [] in regions without zones.')
param zones string[]
param hubAddressPrefix string
param forwarderSubnetPrefix string
param plsNatSubnetPrefix string
param spokeAddressPrefix string
param endpointSubnetPrefix string

resource natIp 'Microsoft.Network/publicIPAddresses@2025-05-01' = {
  name: '${namePrefix}-nat-ip'
  location: location
  sku: { name: 'Standard', tier: 'Regional' }
  zones: zones
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

resource natGateway 'Microsoft.Network/natGateways@2025-05-01' = {
  name: '${namePrefix}-nat'
  location: location
  sku: { name: 'Standard' }
  properties: {
    idleTimeoutInMinutes: 4
    publicIpAddresses: [{ id: natIp.id }]
  }
}

resource hub 'Microsoft.Network/virtualNetworks@2025-05-01' = {
  name: '${namePrefix}-hub'
  location: location
  properties: {
    addressSpace: { addressPrefixes: [hubAddressPrefix] }
    subnets: [
      {
        // The forwarders' NSG sits on their NICs (forwarders.bicep), the same in an existing hub.
        name: 'forwarders'
        properties: {
          addressPrefix: forwarderSubnetPrefix
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

resource spoke 'Microsoft.Network/virtualNetworks@2025-05-01' = {
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
output forwarderSubnetId string = hub.properties.subnets[0].id
output plsNatSubnetId string = hub.properties.subnets[1].id
output endpointSubnetId string = spoke.properties.subnets[0].id
