// A stand-in for the on-premises network, for a demo without ExpressRoute: a VNet peered to
// the hub with two small Ubuntu servers at fixed addresses, each answering HTTP on port 8000
// with its own name, so a client can see failover and balancing through the forwarders.

param location string
param namePrefix string
param hubVnetName string
param addressPrefix string
param serverAddresses string[]
param adminUsername string
@secure()
param sshPublicKey string
param vmSize string = 'Standard_B1s'

resource hub 'Microsoft.Network/virtualNetworks@2025-05-01' existing = {
  name: hubVnetName
}

resource onprem 'Microsoft.Network/virtualNetworks@2025-05-01' = {
  name: '${namePrefix}-onprem-sim'
  location: location
  properties: {
    addressSpace: { addressPrefixes: [addressPrefix] }
    subnets: [{ name: 'servers', properties: { addressPrefix: addressPrefix, defaultOutboundAccess: false } }]
  }
}

resource hubToOnprem 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2025-05-01' = {
  parent: hub
  name: 'to-onprem-sim'
  properties: {
    remoteVirtualNetwork: { id: onprem.id }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: false
  }
}

resource onpremToHub 'Microsoft.Network/virtualNetworks/virtualNetworkPeerings@2025-05-01' = {
  parent: onprem
  name: 'to-hub'
  properties: {
    remoteVirtualNetwork: { id: hub.id }
    allowVirtualNetworkAccess: true
    allowForwardedTraffic: false
  }
}

resource nics 'Microsoft.Network/networkInterfaces@2025-05-01' = [for (ip, i) in serverAddresses: {
  name: '${namePrefix}-onprem-${i}-nic'
  location: location
  properties: {
    ipConfigurations: [
      {
        name: 'ipconfig'
        properties: {
          privateIPAllocationMethod: 'Static'
          privateIPAddress: ip
          subnet: { id: resourceId('Microsoft.Network/virtualNetworks/subnets', onprem.name, 'servers') }
        }
      }
    ]
  }
}]

resource servers 'Microsoft.Compute/virtualMachines@2025-04-01' = [for (ip, i) in serverAddresses: {
  name: '${namePrefix}-onprem-${i}'
  location: location
  properties: {
    hardwareProfile: { vmSize: vmSize }
    osProfile: {
      computerName: 'onprem-${i}'
      adminUsername: adminUsername
      // python3 ships with the image, so the servers need no outbound access.
      customData: base64('#cloud-config\nwrite_files:\n  - path: /srv/www/index.html\n    content: "onprem-${i} ${ip}\\n"\nruncmd:\n  - [systemd-run, --unit=demo-http, python3, -m, http.server, "8000", --directory, /srv/www]\n')
      linuxConfiguration: {
        disablePasswordAuthentication: true
        ssh: { publicKeys: [{ path: '/home/${adminUsername}/.ssh/authorized_keys', keyData: sshPublicKey }] }
      }
    }
    storageProfile: {
      imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' }
      osDisk: { createOption: 'FromImage', managedDisk: { storageAccountType: 'StandardSSD_LRS' }, deleteOption: 'Delete' }
    }
    networkProfile: {
      networkInterfaces: [{ id: nics[i].id, properties: { deleteOption: 'Delete' } }]
    }
  }
}]
