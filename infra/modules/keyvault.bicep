// Key Vault for PATs, client secrets and refresh tokens (RBAC only, soft delete, purge protection).

@description('Key Vault name (3-24 letters, digits and hyphens, globally unique).')
param name string
param location string
param tags object
param logAnalyticsWorkspaceId string

@description('Name of the secret holding the admin console\'s function key (written when consoleFunctionKey is set).')
param consoleKeySecretName string = 'console-function-key'

@description('The admin console\'s function key (the host key `console`); empty: no secret written.')
@secure()
param consoleFunctionKey string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // The app reaches the vault from Flex Consumption instances without fixed outbound IPs, and the
  // Functions service is not a "trusted Microsoft service" for the vault firewall: access is gated by RBAC.
  // checkov:skip=CKV_AZURE_109: no firewall rules, see above; add VNet integration and a private endpoint to restrict the network.
  // checkov:skip=CKV_AZURE_189: public network access needed for the same reason; every call needs an Entra ID token and a role.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

// The function key the admin console is handed after Microsoft Entra sign-in (see sync/console.py): the
// app reads it from here at run time, the Functions host knows it as the host key `console`.
resource consoleKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(consoleFunctionKey)) {
  // checkov:skip=CKV_AZURE_114: contentType is set below; checkov does not read the properties of a conditional (`if`) resource.
  // checkov:skip=CKV_AZURE_41: the key is rotated by redeploying with a new consoleFunctionKey (README); an expiry would lock administrators out of the console.
  parent: vault
  name: consoleKeySecretName
  properties: {
    value: consoleFunctionKey
    contentType: 'text/plain'
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
