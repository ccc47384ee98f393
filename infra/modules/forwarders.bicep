// The forwarder scale set: Ubuntu LTS across zones, fwdd installed by cloud-init, its config
// in userData too (so `fwdd --config-from imds` picks up a changed config without a reimage),
// the Application Health extension reading `/health` (Rich Health States), automatic repairs
// and rolling upgrades gated on that health.

import { listener } from 'types.bicep'

param location string
param namePrefix string
param zones string[]
param instanceCount int
param vmSize string
param acceleratedNetworking bool
param adminUsername string
@secure()
param sshPublicKey string
param subnetId string
param backendPoolId string
param identityId string
param listeners listener[]
param healthPort int
@description('The Private Link Service NAT subnet: the only source fwdd lets use the forwarded ports.')
param plsNatSubnetPrefix string
@description('URL of the fwdd release tarball that cloud-init installs.')
param fwddTarballUrl string

// The fwdd config (CONTRACT.md), built from the same `listeners` as the LB rules and probes.
// JSON is YAML, so `string()` of this object is a valid fwdd config file.
var fwddListeners = [for l in listeners: {
  name: l.name
  protocol: l.protocol
  port: l.port
  targets: l.targets
}]
var fwddConfigObject = {
  health: { port: healthPort }
  sources: [plsNatSubnetPrefix]
  listeners: fwddListeners
}
var fwddConfig = string(fwddConfigObject)

var cloudInit = replace(
  replace(loadTextContent('../../cloud-init/user-data.yaml'), '{{FWDD_TARBALL_URL}}', fwddTarballUrl),
  '{{FWDD_CONFIG_B64}}',
  base64(fwddConfig)
)

resource vmss 'Microsoft.Compute/virtualMachineScaleSets@2024-07-01' = {
  name: '${namePrefix}-fwd'
  location: location
  zones: zones
  sku: { name: vmSize, tier: 'Standard', capacity: instanceCount }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    orchestrationMode: 'Uniform'
    zoneBalance: true
    // Overprovisioned extra VMs would run cloud-init and join the pool only to be deleted.
    overprovision: false
    upgradePolicy: {
      mode: 'Rolling'
      rollingUpgradePolicy: {
        maxBatchInstancePercent: 50
        maxUnhealthyInstancePercent: 50
        maxUnhealthyUpgradedInstancePercent: 50
        pauseTimeBetweenBatches: 'PT30S'
        prioritizeUnhealthyInstances: true
      }
    }
    // Repairs follow `/health`, which reports the node, never the on-premises targets: an
    // on-premises outage must not make Azure replace healthy forwarders.
    automaticRepairsPolicy: {
      enabled: true
      gracePeriod: 'PT15M'
      repairAction: 'Replace'
    }
    virtualMachineProfile: {
      osProfile: {
        computerNamePrefix: 'fwd'
        adminUsername: adminUsername
        customData: base64(cloudInit)
        linuxConfiguration: {
          disablePasswordAuthentication: true
          ssh: {
            publicKeys: [{ path: '/home/${adminUsername}/.ssh/authorized_keys', keyData: sshPublicKey }]
          }
        }
      }
      userData: base64(fwddConfig)
      storageProfile: {
        imageReference: {
          publisher: 'Canonical'
          offer: 'ubuntu-24_04-lts'
          sku: 'server'
          version: 'latest'
        }
        osDisk: {
          createOption: 'FromImage'
          caching: 'ReadWrite'
          managedDisk: { storageAccountType: 'StandardSSD_LRS' }
        }
      }
      securityProfile: {
        securityType: 'TrustedLaunch'
        uefiSettings: { secureBootEnabled: true, vTpmEnabled: true }
      }
      diagnosticsProfile: {
        bootDiagnostics: { enabled: true }
      }
      networkProfile: {
        // No `healthProbe` here: a scale set takes one health source, and it is the extension.
        networkInterfaceConfigurations: [
          {
            name: 'nic'
            properties: {
              primary: true
              enableAcceleratedNetworking: acceleratedNetworking
              // Not needed: packets leave with the node's own address (MASQUERADE), so Azure
              // sees no forwarded traffic. The kernel's ip_forward is set by cloud-init.
              enableIPForwarding: false
              ipConfigurations: [
                {
                  name: 'ipconfig'
                  properties: {
                    primary: true
                    subnet: { id: subnetId }
                    loadBalancerBackendAddressPools: [{ id: backendPoolId }]
                  }
                }
              ]
            }
          }
        ]
      }
      extensionProfile: {
        extensions: [
          {
            name: 'health'
            properties: {
              publisher: 'Microsoft.ManagedServices'
              type: 'ApplicationHealthLinux'
              // 2.0 is Rich Health States: the JSON body of `/health` carries the verdict.
              typeHandlerVersion: '2.0'
              autoUpgradeMinorVersion: true
              settings: {
                protocol: 'http'
                port: healthPort
                requestPath: '/health'
                intervalInSeconds: 5
                numberOfProbes: 1
                // Seconds in Initializing before a node counts; covers cloud-init installing fwdd.
                gracePeriod: 900
              }
            }
          }
        ]
      }
    }
  }
}

output name string = vmss.name
output id string = vmss.id
