// The forwarders' role, assigned in another resource group (where IP Groups or Private Link
// Services that fwdd reads live). Deployed by identity.bicep with `scope` set to that group.

param roleDefinitionId string
param principalId string
@description('Name of the identity; with the role it names the assignment (known before deployment, unlike the principal ID).')
param identityName string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, identityName, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'fwdd forwarders read their Azure configuration'
  }
}
