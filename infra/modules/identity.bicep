// The forwarders' user-assigned identity and what it may read. fwdd's Azure integration only
// reads: IP Groups (targets), Private Link Services and their connections (sources, doctor), and
// the load balancer, NICs and scale set (`fwdctl doctor --azure`). A custom role grants exactly
// those reads rather than Reader's `*/read` on everything. It may be assigned in this resource
// group and in every scope of `extraAssignableScopes` (where the IP Groups or a consumer's
// Private Link Services live); `roleAssignmentResourceGroupIds` assigns it there too.

param location string
param namePrefix string
@description('Scopes besides this resource group where the role may be assigned: subscription or resource group IDs.')
param extraAssignableScopes string[]
@description('Resource groups (IDs) besides this one where the template assigns the role to the identity.')
param roleAssignmentResourceGroupIds string[]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: '${namePrefix}-fwd-id'
  location: location
}

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'fwdd-azure-reader')
  properties: {
    roleName: 'fwdd Azure reader (${uniqueString(resourceGroup().id)})'
    description: 'Read what fwdd reads: IP Groups, Private Link Services and their connections, the load balancer, NICs and the scale set.'
    type: 'CustomRole'
    assignableScopes: union([resourceGroup().id], extraAssignableScopes, roleAssignmentResourceGroupIds)
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

module elsewhere 'role-assignment.bicep' = [for (rgId, i) in roleAssignmentResourceGroupIds: {
  name: 'fwdd-role-${i}'
  scope: resourceGroup(split(rgId, '/')[2], split(rgId, '/')[4])
  params: {
    roleDefinitionId: role.id
    principalId: identity.properties.principalId
    identityName: identity.name
  }
}]

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
output roleDefinitionId string = role.id
