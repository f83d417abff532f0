// Key Vault for PATs, client secrets and refresh tokens (RBAC only, soft delete, purge protection).

@description('Key Vault name (3-24 letters, digits and hyphens, globally unique).')
param name string
param location string
param tags object
param logAnalyticsWorkspaceId string

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

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
