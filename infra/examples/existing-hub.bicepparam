// An existing hub: your forwarder and PLS NAT subnets (nothing network-wide is made), targets
// on-premises behind your ExpressRoute or VPN gateway, an IP Group target, a consumer in another
// subscription connecting by alias (no endpoint made here), and central DNS left to you.
// infra/README.md, "Deploy into an existing hub", walks through every value.
using '../main.bicep'

param namePrefix = 'fwdhub'
param fwddPackageUrl = 'https://<account>.blob.core.windows.net/releases/fwdd_0.1.0_amd64.deb'
param sshPublicKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample <you>'
param zones = ['1', '2', '3']

param forwarderSubnetId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hub-network/providers/Microsoft.Network/virtualNetworks/hub/subnets/forwarders'
param plsNatSubnetId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hub-network/providers/Microsoft.Network/virtualNetworks/hub/subnets/pls-nat'
param plsNatSubnetPrefix = '10.1.4.0/26'

param listeners = [
  {
    name: 'erp'
    protocol: 'tcp'
    port: 8443
    targets: [
      { host: '172.16.10.21', port: 443, weight: 2 }
      { host: '172.16.10.22', port: 443 }
    ]
    check: { intervalMs: 2000, timeoutMs: 1000, fall: 3, rise: 2 }
    whenAllDown: 'reject'
  }
  {
    name: 'ldap'
    port: 636
    targets: [{ ipGroup: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hub-network/providers/Microsoft.Network/ipGroups/dc-servers', port: 636 }]
  }
  {
    name: 'syslog'
    protocol: 'udp'
    port: 514
    targets: [{ host: 'syslog.corp.example', port: 514 }]
    check: { port: 6514 }
    whenAllDown: 'all'
  }
]

param fwdd = {
  azureRefreshSeconds: 30
  sync: { resyncSeconds: 60 }
}

// The consumer (another subscription) sees the service and connects by alias; approved by hand.
param plsVisibilitySubscriptions = ['11111111-1111-1111-1111-111111111111']
param plsAutoApprovalSubscriptions = []
param deployPrivateEndpoint = false
param deployPrivateDnsZone = false

// The IP Group lives in the hub's resource group: the role must be assignable and assigned there.
param roleAssignmentResourceGroupIds = ['/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hub-network']
