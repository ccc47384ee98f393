// The consumer's path: a Private Link Service on the load balancer's frontend, a Private
// Endpoint for it in the spoke, and a private DNS name for that endpoint.

param location string
param namePrefix string
param frontendIpConfigurationId string
param natSubnetId string
param endpointSubnetId string
param spokeVnetId string

@minValue(1)
@maxValue(8)
param natIpCount int
param visibilitySubscriptions string[]
param autoApprovalSubscriptions string[]
param dnsZoneName string
param dnsRecordName string

resource pls 'Microsoft.Network/privateLinkServices@2024-05-01' = {
  name: '${namePrefix}-pls'
  location: location
  properties: {
    loadBalancerFrontendIpConfigurations: [{ id: frontendIpConfigurationId }]
    // Each NAT IP carries up to 64k concurrent flows to the forwarders; add some for more.
    ipConfigurations: [for i in range(0, natIpCount): {
      name: 'nat-${i}'
      properties: {
        primary: i == 0
        privateIPAllocationMethod: 'Dynamic'
        privateIPAddressVersion: 'IPv4'
        subnet: { id: natSubnetId }
      }
    }]
    visibility: { subscriptions: visibilitySubscriptions }
    autoApproval: { subscriptions: autoApprovalSubscriptions }
    // Off: with it on, every TCP connection would start with a PROXY v2 header, which fwdd's
    // DNAT passes through untouched to on-premises servers that do not expect it (and UDP has
    // no such header). The consumer's address is lost anyway behind the NAT IPs and MASQUERADE.
    enableProxyProtocol: false
  }
}

var endpointNicName = '${namePrefix}-pe-nic'

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: '${namePrefix}-pe'
  location: location
  properties: {
    subnet: { id: endpointSubnetId }
    customNetworkInterfaceName: endpointNicName
    privateLinkServiceConnections: [
      {
        name: 'fwd'
        properties: {
          privateLinkServiceId: pls.id
          requestMessage: 'fwdd forwarders'
        }
      }
    ]
  }
}

// The endpoint's address lives on its NIC; naming the NIC makes it addressable here.
resource endpointNic 'Microsoft.Network/networkInterfaces@2024-05-01' existing = {
  name: endpointNicName
}

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: dnsZoneName
  location: 'global'

  resource spokeLink 'virtualNetworkLinks' = {
    name: 'spoke'
    location: 'global'
    properties: {
      virtualNetwork: { id: spokeVnetId }
      registrationEnabled: false
    }
  }

  resource record 'A' = {
    name: dnsRecordName
    dependsOn: [endpoint]
    properties: {
      ttl: 300
      aRecords: [{ ipv4Address: endpointNic.properties.ipConfigurations[0].properties.privateIPAddress }]
    }
  }
}

output endpointIp string = endpointNic.properties.ipConfigurations[0].properties.privateIPAddress
output endpointFqdn string = '${dnsRecordName}.${dnsZoneName}'
output alias string = pls.properties.alias
