// Greenfield: the template makes a demo hub and spoke, a Private Endpoint with a DNS name in the
// spoke, and (deployOnPremSimulation) two stand-in on-premises servers. Fill in the two values
// marked <...>, then: az deployment group create -g RG -f infra/main.bicep -p infra/examples/greenfield.bicepparam
using '../main.bicep'

param namePrefix = 'fwd'
param fwddPackageUrl = 'https://<account>.blob.core.windows.net/releases/fwdd_0.1.0_amd64.deb'
param sshPublicKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample <you>'
param healthPort = 8080
param listeners = [
  {
    name: 'onprem-http'
    protocol: 'tcp'
    port: 8000
    targets: [
      { host: '192.168.42.10', port: 8000 }
      { host: '192.168.42.11', port: 8000 }
    ]
  }
  {
    name: 'onprem-ssh'
    protocol: 'tcp'
    port: 2222
    targets: [{ host: '192.168.42.10', port: 22 }]
  }
]
param deployOnPremSimulation = true
