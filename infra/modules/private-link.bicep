// The Private Link Service on the load balancer's frontend: what a consumer in any subscription
// connects a Private Endpoint to (by alias or resource ID; see the outputs of main.bicep).

param location string
param namePrefix string
param frontendIpConfigurationId string
param natSubnetId string

// Each NAT IP carries up to 64k concurrent flows to the forwarders. Lowering the count removes the
// highest-numbered ones (never nat-0, the primary); flows through a removed NAT IP end with it.
// The forwarders' NSG and fwdd's `sources` hold the whole NAT subnet, so they need no change.
@minValue(1)
@maxValue(8)
param natIpCount int
@description('Subscriptions that may see and request the service; [\'*\'] for any.')
param visibilitySubscriptions string[]
@description('Subscriptions whose endpoint requests are approved without a manual step.')
param autoApprovalSubscriptions string[]

resource pls 'Microsoft.Network/privateLinkServices@2025-05-01' = {
  name: '${namePrefix}-pls'
  location: location
  properties: {
    loadBalancerFrontendIpConfigurations: [{ id: frontendIpConfigurationId }]
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

output id string = pls.id
output alias string = pls.properties.alias
