// Log Analytics workspace, workspace-based Application Insights and the sync-health workbook.

param logAnalyticsName string
param appInsightsName string
param location string
param tags object

@description('Days Log Analytics keeps data; 30 are included in the ingestion price.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Daily ingestion cap in GB to bound cost; -1 for none. Data over the cap is dropped until the next day, alerts included.')
param dailyQuotaGb int = -1

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    workspaceCapping: {
      dailyQuotaGb: dailyQuotaGb
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Ingestion needs an Entra ID token (APPLICATIONINSIGHTS_AUTHENTICATION_STRING + Monitoring Metrics Publisher).
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsights.id, 'tandem-sync-health')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Tandem sync health'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: loadTextContent('../workbook.json')
  }
}

output workspaceId string = workspace.id
output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
// Not a secret (Microsoft guidance): it identifies the resource; ingestion still needs an Entra ID token.
output appInsightsConnectionString string = appInsights.properties.ConnectionString
output workbookId string = workbook.id
