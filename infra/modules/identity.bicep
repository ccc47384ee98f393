// The forwarders' user-assigned identity and what it may read. fwdd's Azure integration only
// reads: IP Groups (targets), the Private Link Service and its connections (sources, doctor),
// and the load balancer and scale set (`fwdctl doctor --azure`). A custom role grants exactly
// those reads, assigned on this resource group, rather than Reader's `*/read` on everything.

param location string
param namePrefix string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-fwd-id'
  location: location
}

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'fwdd-azure-reader')
  properties: {
    roleName: 'fwdd Azure reader (${uniqueString(resourceGroup().id)})'
    description: 'Read what fwdd reads: IP Groups, Private Link Services, the load balancer and the scale set.'
    type: 'CustomRole'
    assignableScopes: [resourceGroup().id]
    permissions: [
      {
        actions: [
          'Microsoft.Network/ipGroups/read'
          'Microsoft.Network/privateLinkServices/read'
          'Microsoft.Network/privateLinkServices/privateEndpointConnections/read'
          'Microsoft.Network/loadBalancers/read'
          'Microsoft.Network/loadBalancers/*/read'
          'Microsoft.Network/networkInterfaces/read'
          'Microsoft.Compute/virtualMachineScaleSets/read'
          'Microsoft.Compute/virtualMachineScaleSets/*/read'
        ]
        notActions: []
      }
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, identity.id, role.id)
  properties: {
    roleDefinitionId: role.id
    principalId: identity.properties.principalId
    // Set so the assignment does not wait for the new principal to replicate in Entra ID.
    principalType: 'ServicePrincipal'
    description: 'fwdd forwarders read their Azure configuration'
  }
}

output id string = identity.id
output clientId string = identity.properties.clientId
