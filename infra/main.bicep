// fwdd on Azure, end to end: forwarders in a scale set behind an internal load balancer, a
// Private Link Service on that load balancer, and a Private Endpoint with a DNS name in a
// spoke VNet. `listeners` is declared once and drives the load balancer rules and probes, the
// NSG and the fwdd config on every forwarder.

import { listener } from 'modules/types.bicep'

@description('Region for every resource.')
param location string = resourceGroup().location

@description('Prefix of every resource name.')
@maxLength(12)
param namePrefix string = 'fwd'

@description('The forwarded services: one LB rule and probe, one fwdd listener each.')
@minLength(1)
param listeners listener[]

@description('Port of fwdd\'s HTTP health endpoints on each forwarder.')
param healthPort int = 8080

@description('URL of the fwdd release tarball that cloud-init installs.')
param fwddTarballUrl string

@description('Availability zones of the forwarders and the LB frontend; [] in regions without zones.')
param zones string[] = ['1', '2', '3']

@minValue(1)
param instanceCount int = 2
param vmSize string = 'Standard_D2s_v5'
@description('Accelerated networking; turn off for sizes that lack it (B-series).')
param acceleratedNetworking bool = true
param adminUsername string = 'azureuser'
@secure()
param sshPublicKey string

param hubAddressPrefix string = '10.50.0.0/16'
param forwarderSubnetPrefix string = '10.50.0.0/24'
param plsNatSubnetPrefix string = '10.50.1.0/26'
param spokeAddressPrefix string = '10.60.0.0/16'
param endpointSubnetPrefix string = '10.60.0.0/24'

@description('NAT IPs of the Private Link Service (1 to 8).')
@minValue(1)
@maxValue(8)
param plsNatIpCount int = 2
@description('Subscriptions that may see and request the Private Link Service.')
param plsVisibilitySubscriptions string[] = [subscription().subscriptionId]
@description('Subscriptions whose endpoint requests are approved without a manual step.')
param plsAutoApprovalSubscriptions string[] = [subscription().subscriptionId]

@allowed(['AllProbedUp', 'AllProbedDown'])
param noHealthyBackendsBehavior string = 'AllProbedUp'

param privateDnsZoneName string = 'fwd.internal'
param privateDnsRecordName string = 'onprem'

@description('Deploy a stand-in on-premises VNet peered to the hub, with two test servers.')
param deployOnPremSimulation bool = false
param onPremSimAddressPrefix string = '192.168.42.0/24'
param onPremSimServerAddresses string[] = ['192.168.42.10', '192.168.42.11']

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    location: location
    namePrefix: namePrefix
    zones: zones
    listeners: listeners
    healthPort: healthPort
    hubAddressPrefix: hubAddressPrefix
    forwarderSubnetPrefix: forwarderSubnetPrefix
    plsNatSubnetPrefix: plsNatSubnetPrefix
    spokeAddressPrefix: spokeAddressPrefix
    endpointSubnetPrefix: endpointSubnetPrefix
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    location: location
    namePrefix: namePrefix
  }
}

module loadBalancer 'modules/load-balancer.bicep' = {
  name: 'load-balancer'
  params: {
    location: location
    namePrefix: namePrefix
    zones: zones
    subnetId: network.outputs.forwarderSubnetId
    listeners: listeners
    healthPort: healthPort
    noHealthyBackendsBehavior: noHealthyBackendsBehavior
  }
}

module forwarders 'modules/forwarders.bicep' = {
  name: 'forwarders'
  params: {
    location: location
    namePrefix: namePrefix
    zones: zones
    instanceCount: instanceCount
    vmSize: vmSize
    acceleratedNetworking: acceleratedNetworking
    adminUsername: adminUsername
    sshPublicKey: sshPublicKey
    subnetId: network.outputs.forwarderSubnetId
    backendPoolId: loadBalancer.outputs.backendPoolId
    identityId: identity.outputs.id
    listeners: listeners
    healthPort: healthPort
    plsNatSubnetPrefix: plsNatSubnetPrefix
    fwddTarballUrl: fwddTarballUrl
  }
}

module privateLink 'modules/private-link.bicep' = {
  name: 'private-link'
  params: {
    location: location
    namePrefix: namePrefix
    frontendIpConfigurationId: loadBalancer.outputs.frontendIpConfigurationId
    natSubnetId: network.outputs.plsNatSubnetId
    endpointSubnetId: network.outputs.endpointSubnetId
    spokeVnetId: network.outputs.spokeVnetId
    natIpCount: plsNatIpCount
    visibilitySubscriptions: plsVisibilitySubscriptions
    autoApprovalSubscriptions: plsAutoApprovalSubscriptions
    dnsZoneName: privateDnsZoneName
    dnsRecordName: privateDnsRecordName
  }
}

module onPremSim 'modules/onprem-sim.bicep' = if (deployOnPremSimulation) {
  name: 'onprem-sim'
  params: {
    location: location
    namePrefix: namePrefix
    hubVnetName: network.outputs.hubVnetName
    addressPrefix: onPremSimAddressPrefix
    serverAddresses: onPremSimServerAddresses
    adminUsername: adminUsername
    sshPublicKey: sshPublicKey
  }
}

@description('Private IP of the endpoint in the spoke.')
output endpointIp string = privateLink.outputs.endpointIp
@description('DNS name of the endpoint, resolvable from the spoke.')
output endpointFqdn string = privateLink.outputs.endpointFqdn
@description('Alias of the Private Link Service, for endpoints in other subscriptions or tenants.')
output privateLinkServiceAlias string = privateLink.outputs.alias
@description('Client ID of the forwarders\' identity, for `azure.identityClientId` in the fwdd config.')
output forwarderIdentityClientId string = identity.outputs.clientId
