// The forwarder scale set: Ubuntu LTS across the given zones, fwdd installed by cloud-init from
// one .deb, its config in userData, which the nodes run with (`fwdd --config-from imds`): a
// redeploy that changes the config reaches every node within `azure.refreshSeconds`, no reimage.
// The Application Health extension reads `/health` (Rich Health States); automatic repairs,
// rolling upgrades and automatic OS image upgrades are gated on it; autoscale on CPU and network.

param location string
param namePrefix string
@description('[] (regional), one zone, or several; zoneBalance only with two or more.')
param zones string[]
@minValue(2)
param minInstances int
param maxInstances int
@minValue(10)
@maxValue(95)
param scaleOutCpuPercent int
@minValue(1)
param scaleOutNetworkBytesPerSecond int
param vmSize string
param acceleratedNetworking bool
param adminUsername string
@secure()
param sshPublicKey string
param subnetId string
param nsgId string
param backendPoolId string
param identityId string
param healthPort int
@description('URL of the fwdd .deb that cloud-init installs.')
param fwddPackageUrl string
// userData takes at most 64 KB of base64: 49152 bytes of config. Checked here so an oversized
// config fails the deployment with this parameter's name rather than deep in the Compute API.
@description('The fwdd config as JSON (built in main.bicep); it goes into userData.')
@maxLength(49152)
param fwddConfigJson string

// customData carries cloud-init only: the config lives in userData, which the nodes run with. A
// cloud-init template that still writes a config file gets a pointer there instead of a second
// copy (with it, 300 listeners would pass customData's 64 KB limit).
var configFileNote = '# fwdd runs with --config-from imds: its config is this scale set\'s userData.\n'
var cloudInit = replace(
  replace(loadTextContent('../../cloud-init/user-data.yaml'), '{{FWDD_DEB_URL}}', fwddPackageUrl),
  '{{FWDD_CONFIG_B64}}',
  base64(configFileNote)
)
var zoneCount = length(zones)

resource vmss 'Microsoft.Compute/virtualMachineScaleSets@2025-04-01' = {
  name: '${namePrefix}-fwd'
  location: location
  zones: zoneCount == 0 ? null : zones
  sku: { name: vmSize, tier: 'Standard', capacity: minInstances }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    orchestrationMode: 'Uniform'
    // Azure refuses zoneBalance unless two or more zones are given.
    zoneBalance: zoneCount >= 2 ? true : null
    // Overprovisioned extra VMs would run cloud-init and join the pool only to be deleted.
    overprovision: false
    upgradePolicy: {
      mode: 'Rolling'
      // One node at a time (20% rounds to one below ten nodes), a new one made first (maxSurge),
      // and a stop when a single upgraded node turns unhealthy: two nodes never both go down.
      rollingUpgradePolicy: {
        maxBatchInstancePercent: 20
        maxUnhealthyInstancePercent: 50
        maxUnhealthyUpgradedInstancePercent: 0
        pauseTimeBetweenBatches: 'PT1M'
        prioritizeUnhealthyInstances: true
        maxSurge: true
      }
      automaticOSUpgradePolicy: {
        enableAutomaticOSUpgrade: true
        disableAutomaticRollback: false
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
      // A node being deleted (scale-in, repair, upgrade) gets a Terminate scheduled event and
      // up to 10 minutes to drain before it goes.
      scheduledEventsProfile: {
        terminateNotificationProfile: { enable: true, notBeforeTimeout: 'PT10M' }
      }
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
      userData: base64(fwddConfigJson)
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
              networkSecurityGroup: { id: nsgId }
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

// Scale out on either signal, in on both being low; never below minInstances (two, so a zone
// or a node can go without an outage). Network is the forwarders' real work: a node's flows,
// conntrack and source ports grow with it (infra/README.md, "When to scale").
var metricScope = vmss.id
resource autoscale 'Microsoft.Insights/autoscaleSettings@2022-10-01' = {
  name: '${namePrefix}-fwd-autoscale'
  location: location
  properties: {
    enabled: true
    targetResourceUri: vmss.id
    profiles: [
      {
        name: 'cpu-and-network'
        capacity: { minimum: string(minInstances), maximum: string(maxInstances), default: string(minInstances) }
        rules: [
          {
            metricTrigger: {
              metricName: 'Percentage CPU'
              metricResourceUri: metricScope
              timeGrain: 'PT1M'
              statistic: 'Average'
              timeWindow: 'PT5M'
              timeAggregation: 'Average'
              operator: 'GreaterThan'
              threshold: scaleOutCpuPercent
            }
            scaleAction: { direction: 'Increase', type: 'ChangeCount', value: '1', cooldown: 'PT5M' }
          }
          {
            metricTrigger: {
              metricName: 'Network In Total'
              metricResourceUri: metricScope
              timeGrain: 'PT1M'
              statistic: 'Average'
              timeWindow: 'PT5M'
              timeAggregation: 'Average'
              operator: 'GreaterThan'
              // The metric is bytes per minute per instance.
              threshold: scaleOutNetworkBytesPerSecond * 60
            }
            scaleAction: { direction: 'Increase', type: 'ChangeCount', value: '1', cooldown: 'PT5M' }
          }
          {
            metricTrigger: {
              metricName: 'Percentage CPU'
              metricResourceUri: metricScope
              timeGrain: 'PT1M'
              statistic: 'Average'
              timeWindow: 'PT30M'
              timeAggregation: 'Average'
              operator: 'LessThan'
              threshold: scaleOutCpuPercent / 3
            }
            scaleAction: { direction: 'Decrease', type: 'ChangeCount', value: '1', cooldown: 'PT30M' }
          }
          {
            metricTrigger: {
              metricName: 'Network In Total'
              metricResourceUri: metricScope
              timeGrain: 'PT1M'
              statistic: 'Average'
              timeWindow: 'PT30M'
              timeAggregation: 'Average'
              operator: 'LessThan'
              threshold: scaleOutNetworkBytesPerSecond * 20
            }
            scaleAction: { direction: 'Decrease', type: 'ChangeCount', value: '1', cooldown: 'PT30M' }
          }
        ]
      }
    ]
  }
}

output name string = vmss.name
output id string = vmss.id
