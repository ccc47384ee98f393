// A consumer's side, optional: a Private Endpoint to the Private Link Service in a given subnet,
// and optionally a private DNS zone with an A record for it, linked to the VNets that resolve it.
// With central DNS (custom DNS servers or a DNS Private Resolver) link the zone to the resolver's
// VNet (`dnsZoneVnetIds`) or create the record in your own zone instead (deployDnsZone false).

param location string
param namePrefix string
param privateLinkServiceId string
param endpointSubnetId string
param deployDnsZone bool
param dnsZoneName string
param dnsRecordName string
@description('VNets (IDs) linked to the zone, so that they resolve the record.')
param dnsZoneVnetIds string[]

var endpointNicName = '${namePrefix}-pe-nic'

resource endpoint 'Microsoft.Network/privateEndpoints@2025-05-01' = {
  name: '${namePrefix}-pe'
  location: location
  properties: {
    subnet: { id: endpointSubnetId }
    customNetworkInterfaceName: endpointNicName
    privateLinkServiceConnections: [
      {
        name: 'fwd'
        properties: {
          privateLinkServiceId: privateLinkServiceId
          requestMessage: 'fwdd forwarders'
        }
      }
    ]
  }
}

// The endpoint's address lives on its NIC; naming the NIC makes it addressable here.
resource endpointNic 'Microsoft.Network/networkInterfaces@2025-05-01' existing = {
  name: endpointNicName
  dependsOn: [endpoint]
}

var endpointIp = endpointNic.properties.ipConfigurations[0].properties.privateIPAddress

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' = if (deployDnsZone) {
  name: dnsZoneName
  location: 'global'
}

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (vnetId, i) in dnsZoneVnetIds: if (deployDnsZone) {
  parent: zone
  name: 'link-${i}-${last(split(vnetId, '/'))}'
  location: 'global'
  properties: {
    virtualNetwork: { id: dnsZoneVnetIds[i] }
    registrationEnabled: false
  }
}]

resource record 'Microsoft.Network/privateDnsZones/A@2024-06-01' = if (deployDnsZone) {
  parent: zone
  name: dnsRecordName
  properties: {
    ttl: 300
    aRecords: [{ ipv4Address: endpointIp }]
  }
}

output endpointIp string = endpointIp
output fqdn string = deployDnsZone ? '${dnsRecordName}.${dnsZoneName}' : ''
