// fwdd on Azure: forwarders in a scale set behind an internal load balancer, a Private Link
// Service on that load balancer, and optionally a Private Endpoint with a DNS name for it.
// `listeners` is declared once and drives the load balancer rules and probes, the NSG and the
// fwdd config on every forwarder.
//
// Two ways in (examples/): greenfield, where the template makes a demo hub and spoke; or an
// existing hub, where `forwarderSubnetId` and `plsNatSubnetId` name your subnets and no network
// is made. infra/README.md walks through both.

import { listener, fwddSettings, fwddConfig } from 'modules/types.bicep'

@description('Region for every resource.')
param location string = resourceGroup().location

@description('Prefix of every resource name.')
@maxLength(12)
param namePrefix string = 'fwd'

// 300: the Standard load balancer's limit of rules per NIC (infra/README.md, "Limits").
@description('The forwarded services: one LB rule and probe, one NSG rule pair, one fwdd listener each.')
@minLength(1)
@maxLength(300)
param listeners listener[]

// Adding or removing a listener takes two deployments, so no client meets a half-applied change
// (infra/README.md, "Changing listeners"): a listener named here is in the nodes' config but has
// no LB rule, probe or NSG rule yet (adding) or any more (removing).
@description('Listeners (names) in the fwdd config that the load balancer and NSG leave out for now: step one of adding or removing one.')
param listenersNotOnLoadBalancer string[] = []

var lbListeners = filter(listeners, l => !contains(listenersNotOnLoadBalancer, l.name))

@description('fwdd settings beyond the listeners (sync, extra sources, Azure refresh).')
param fwdd fwddSettings = {}

@description('Port of fwdd\'s HTTP health endpoints on each forwarder.')
@minValue(1024)
@maxValue(65535)
param healthPort int = 8080

@description('URL of the fwdd .deb that cloud-init installs (reachable from the forwarders at first boot).')
@maxLength(2048)
param fwddPackageUrl string

@description('Availability zones of the forwarders and the LB frontend: [] in regions without zones, one zone, or several.')
param zones string[] = ['1', '2', '3']

@description('Fewest forwarders; two, so one node or zone can go without an outage.')
@minValue(2)
param minInstances int = 2
@description('Most forwarders autoscale may run.')
@minValue(2)
@maxValue(100)
param maxInstances int = 6
@description('Average CPU (%) over 5 minutes above which a node is added.')
@minValue(10)
@maxValue(95)
param scaleOutCpuPercent int = 60
@description('Average inbound bytes per second per node over 5 minutes above which a node is added (default 100 MB/s, about 0.8 Gbit/s).')
@minValue(1)
param scaleOutNetworkBytesPerSecond int = 100000000

param vmSize string = 'Standard_D2s_v5'
@description('Accelerated networking; turn off for sizes that lack it (B-series).')
param acceleratedNetworking bool = true
param adminUsername string = 'azureuser'
@secure()
param sshPublicKey string

// Existing hub: give both subnet IDs and the NAT subnet's prefix; no network is made then.
@description('Existing subnet for the forwarders and the LB frontend; empty to make the demo network.')
param forwarderSubnetId string = ''
@description('Existing subnet for the PLS NAT IPs (privateLinkServiceNetworkPolicies Disabled); empty to make the demo network.')
param plsNatSubnetId string = ''
@description('Address prefix of the PLS NAT subnet: the only source allowed to the listener ports (NSG and fwdd).')
param plsNatSubnetPrefix string = '10.50.1.0/26'

// Demo network (only when no subnet IDs are given).
param hubAddressPrefix string = '10.50.0.0/16'
param forwarderSubnetPrefix string = '10.50.0.0/24'
param spokeAddressPrefix string = '10.60.0.0/16'
param endpointSubnetPrefix string = '10.60.0.0/24'

@description('NAT IPs of the Private Link Service (1 to 8).')
@minValue(1)
@maxValue(8)
param plsNatIpCount int = 2
@description('Subscriptions that may see and request the Private Link Service; [\'*\'] for any.')
param plsVisibilitySubscriptions string[] = [subscription().subscriptionId]
@description('Subscriptions whose endpoint requests are approved without a manual step.')
param plsAutoApprovalSubscriptions string[] = [subscription().subscriptionId]

@allowed(['AllProbedUp', 'AllProbedDown'])
param noHealthyBackendsBehavior string = 'AllProbedUp'

@description('Make a Private Endpoint to the service here (a consumer elsewhere connects with the outputs instead).')
param deployPrivateEndpoint bool = true
@description('Subnet of that endpoint; empty means the demo spoke.')
param endpointSubnetId string = ''
@description('Make a private DNS zone with an A record for the endpoint.')
param deployPrivateDnsZone bool = true
param privateDnsZoneName string = 'fwd.internal'
@description('Name of the A record in the zone, e.g. onprem for onprem.fwd.internal.')
param privateDnsRecordName string = 'onprem'
@description('VNets (IDs) linked to the zone besides the demo spoke: consumers\' VNets, or the VNet of a DNS Private Resolver for central DNS.')
param privateDnsZoneVnetIds string[] = []

@description('Scopes (subscription or resource group IDs) besides this resource group where the forwarders\' role may be assigned.')
param roleAssignableScopes string[] = []
@description('Resource groups (IDs) where the template also assigns the role, e.g. where the IP Groups live.')
param roleAssignmentResourceGroupIds string[] = []

@description('Deploy a stand-in on-premises VNet peered to the demo hub, with two test servers (greenfield only).')
param deployOnPremSimulation bool = false
param onPremSimAddressPrefix string = '192.168.42.0/24'
param onPremSimServerAddresses string[] = ['192.168.42.10', '192.168.42.11']

var greenfield = empty(forwarderSubnetId)

module network 'modules/network.bicep' = if (greenfield) {
  name: 'network'
  params: {
    location: location
    namePrefix: namePrefix
    zones: zones
    hubAddressPrefix: hubAddressPrefix
    forwarderSubnetPrefix: forwarderSubnetPrefix
    plsNatSubnetPrefix: plsNatSubnetPrefix
    spokeAddressPrefix: spokeAddressPrefix
    endpointSubnetPrefix: endpointSubnetPrefix
  }
}

var forwarderSubnet = greenfield ? network!.outputs.forwarderSubnetId : forwarderSubnetId
var natSubnet = greenfield ? network!.outputs.plsNatSubnetId : plsNatSubnetId

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    location: location
    namePrefix: namePrefix
    extraAssignableScopes: roleAssignableScopes
    roleAssignmentResourceGroupIds: roleAssignmentResourceGroupIds
  }
}

module nsg 'modules/nsg.bicep' = {
  name: 'nsg'
  params: {
    location: location
    namePrefix: namePrefix
    listeners: lbListeners
    healthPort: healthPort
    plsNatSubnetPrefix: plsNatSubnetPrefix
  }
}

module loadBalancer 'modules/load-balancer.bicep' = {
  name: 'load-balancer'
  params: {
    location: location
    namePrefix: namePrefix
    zones: zones
    subnetId: forwarderSubnet
    listeners: lbListeners
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
    minInstances: minInstances
    maxInstances: maxInstances
    scaleOutCpuPercent: scaleOutCpuPercent
    scaleOutNetworkBytesPerSecond: scaleOutNetworkBytesPerSecond
    vmSize: vmSize
    acceleratedNetworking: acceleratedNetworking
    adminUsername: adminUsername
    sshPublicKey: sshPublicKey
    subnetId: forwarderSubnet
    nsgId: nsg.outputs.id
    backendPoolId: loadBalancer.outputs.backendPoolId
    identityId: identity.outputs.id
    healthPort: healthPort
    fwddPackageUrl: fwddPackageUrl
    fwddConfigJson: string(fwddConfig(listeners, healthPort, plsNatSubnetPrefix, identity.outputs.clientId, fwdd))
  }
}

module privateLink 'modules/private-link.bicep' = {
  name: 'private-link'
  params: {
    location: location
    namePrefix: namePrefix
    frontendIpConfigurationId: loadBalancer.outputs.frontendIpConfigurationId
    natSubnetId: natSubnet
    natIpCount: plsNatIpCount
    visibilitySubscriptions: plsVisibilitySubscriptions
    autoApprovalSubscriptions: plsAutoApprovalSubscriptions
  }
}

module endpoint 'modules/private-endpoint.bicep' = if (deployPrivateEndpoint) {
  name: 'private-endpoint'
  params: {
    location: location
    namePrefix: namePrefix
    privateLinkServiceId: privateLink.outputs.id
    endpointSubnetId: empty(endpointSubnetId) && greenfield ? network!.outputs.endpointSubnetId : endpointSubnetId
    deployDnsZone: deployPrivateDnsZone
    dnsZoneName: privateDnsZoneName
    dnsRecordName: privateDnsRecordName
    dnsZoneVnetIds: concat(greenfield ? [network!.outputs.spokeVnetId] : [], privateDnsZoneVnetIds)
  }
}

module onPremSim 'modules/onprem-sim.bicep' = if (deployOnPremSimulation && greenfield) {
  name: 'onprem-sim'
  params: {
    location: location
    namePrefix: namePrefix
    // The name, not the module output, so the module's `existing` reference is known before deployment.
    hubVnetName: '${namePrefix}-hub'
    addressPrefix: onPremSimAddressPrefix
    serverAddresses: onPremSimServerAddresses
    adminUsername: adminUsername
    sshPublicKey: sshPublicKey
  }
}

@description('Resource ID of the Private Link Service: a consumer in another subscription connects an endpoint to it.')
output privateLinkServiceId string = privateLink.outputs.id
@description('Alias of the Private Link Service, for endpoints in other subscriptions or tenants.')
output privateLinkServiceAlias string = privateLink.outputs.alias
@description('Private IP of the endpoint made here, or empty.')
output endpointIp string = deployPrivateEndpoint ? endpoint!.outputs.endpointIp : ''
@description('DNS name of that endpoint, or empty.')
output endpointFqdn string = deployPrivateEndpoint ? endpoint!.outputs.fqdn : ''
@description('Client ID of the forwarders\' identity (already in the fwdd config as azure.identityClientId).')
output forwarderIdentityClientId string = identity.outputs.clientId
@description('Principal ID of that identity, to assign its role where the template does not.')
output forwarderIdentityPrincipalId string = identity.outputs.principalId
@description('The custom role with fwdd\'s reads.')
output forwarderRoleDefinitionId string = identity.outputs.roleDefinitionId
