// Storage account for the Functions host (blobs, queues), the deployment package and the app's state tables.

@description('Storage account name (3-24 lowercase letters and digits).')
param name string
param location string
param tags object

@description('State tables the app reads and writes (tandem<config|links|...>).')
param tableNames array

@description('Log Analytics workspace that receives the table service\'s write and delete logs (the audit trail).')
param logAnalyticsWorkspaceId string

@description('Blob container holding the deployment package of the Flex Consumption app.')
param deploymentContainerName string

@description('Replication. ZRS keeps links and watermarks through a zone outage at a small premium over LRS.')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS', 'Standard_RAGRS', 'Standard_RAGZRS'])
param skuName string = 'Standard_ZRS'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // Flex Consumption without VNet integration has no fixed outbound IPs, so a firewall would lock the
  // app out; access is gated by Entra ID instead (shared keys are off, every request carries a token).
  // checkov:skip=CKV_AZURE_35: no firewall, see above; add VNet integration and private endpoints to close the account.
  // checkov:skip=CKV_AZURE_59: public endpoint needed for the same reason; anonymous and shared-key access are both off.
  // checkov:skip=CKV_AZURE_206: replication is the storageSku parameter (default ZRS); geo-replication is the customer's cost call.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

// Audit trail: every write and delete on the tables (the configuration table decides where secrets go)
// lands in Log Analytics with the caller's identity (StorageTableLogs).
resource tableAuditLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'table-writes-to-log-analytics'
  scope: tableService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

output id string = account.id
// Referenced by the role assignments, so they wait for the tables.
output tableNames array = [for (tableName, i) in tableNames: tables[i].name]
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
