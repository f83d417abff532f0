// Tandem: everything the sync hub needs in one resource group.
//
//   az deployment group create -g <resource-group> -f infra/main.bicep -p infra/main.bicepparam
//
// Reading order: names, then monitoring (everything else sends logs there), storage, Service Bus,
// Key Vault, the function app, the role assignments that connect them, and the alerts.
// The queue and table names below are the ones the code uses (sync/settings.py, state/tables.py);
// tests/infra checks that they and every app setting the code reads are provisioned here.

targetScope = 'resourceGroup'

@description('Short lowercase name used in every resource name (letters and digits, 3-10 characters).')
@minLength(3)
@maxLength(10)
param baseName string = 'tandem'

@description('Region for every resource; it must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('E-mail address that receives the alerts.')
param alertEmail string

@description('Optional object id of the person or group operating Tandem: gets Key Vault Secrets Officer, Table Data Contributor and Service Bus Data Sender/Receiver to store PATs, read status and replay dead letters.')
param operatorPrincipalId string = ''

@allowed(['User', 'Group', 'ServicePrincipal'])
param operatorPrincipalType string = 'User'

@description('Key Vault secrets the app writes back (rotated OAuth refresh tokens, e.g. pwa-refresh-token). The app gets Secrets Officer on these alone and Secrets User on the vault. Create each before deploying.')
param rotatedSecretNames array = []

@description('Client id of an Entra app registration: when set, the admin routes need Microsoft Entra sign-in (App Service authentication) on top of the function key. Service hooks, health and SCIM stay outside. Empty = off.')
param adminSignInClientId string = ''

@description('Tenant of the admin sign-in app registration (default: this subscription\'s tenant).')
param adminSignInTenantId string = subscription().tenantId

@description('With admin sign-in: the function key the admin console is handed after an administrator (app role Tandem.Admin) signs in, e.g. $(openssl rand -hex 32). Set as the host key `console` and as a Key Vault secret. Empty: administrators paste a function key into the console instead.')
@secure()
param consoleFunctionKey string = ''

@description('With admin sign-in: name of the Key Vault secret holding the console\'s function key.')
param consoleKeySecretName string = 'console-function-key'

@description('NCRONTAB of the timer that enqueues the polls that are due; each direction has its own schedule in the scenario configuration.')
param pollSchedule string = '0 * * * * *'

@description('SCIM provisioning: the azure_devops connection of the configuration that SCIM provisions users, groups and projects into; empty turns the SCIM endpoint off.')
param scimAdoConnection string = ''

@description('SCIM provisioning: name of the Key Vault secret holding the bearer token Entra ID (or another SCIM client) sends.')
param scimTokenSecretName string = 'scim-token'

@description('Deliveries of an item message before the app parks it as failed.')
@minValue(1)
@maxValue(10)
param maxAttempts int = 8

@description('Largest request body the app accepts, in bytes; larger ones get 413 before any code runs.')
@minValue(65536)
@maxValue(104857600)
param requestBodyLimitBytes int = 2097152

@description('Memory per instance in MB (512, 2048 or 4096); bills GB-seconds.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Upper bound on instances the plan scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('HTTP instances kept warm (no cold start for service hooks); billed even when idle. 0 = scale to zero.')
@minValue(0)
@maxValue(10)
param alwaysReadyHttpInstances int = 0

@description('Storage replication for host and state data.')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS', 'Standard_RAGRS', 'Standard_RAGZRS'])
param storageSku string = 'Standard_ZRS'

@description('Days Log Analytics keeps logs and metrics.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Daily Log Analytics ingestion cap in GB; -1 for none.')
param logDailyQuotaGb int = -1

@description('Failure-rate alert: percentage of a direction\'s items failing within 15 minutes.')
@minValue(1)
@maxValue(100)
param failureRatePercent int = 10

@description('Interval of the slowest direction schedule in minutes; with missedPolls it sets the no-poll alert.')
@minValue(1)
@maxValue(1440)
param pollIntervalMinutes int = 60

@description('Alert when a direction has had no successful poll for this many intervals.')
@minValue(1)
@maxValue(24)
param missedPolls int = 3

param tags object = {
  application: 'tandem'
}

// ---- names ---------------------------------------------------------------------------------
var suffix = uniqueString(resourceGroup().id, baseName)
var appName = '${baseName}-${suffix}'
var names = {
  plan: 'plan-${baseName}-${suffix}'
  storage: take(toLower('st${baseName}${suffix}'), 24)
  serviceBus: 'sb-${baseName}-${suffix}'
  keyVault: take('kv-${baseName}-${suffix}', 24)
  logAnalytics: 'log-${baseName}-${suffix}'
  appInsights: 'appi-${baseName}-${suffix}'
}
var deploymentContainerName = 'app-package'

// ---- what the code uses (sync/settings.py defaults, state/tables.py) ------------------------
var tablePrefix = 'tandem'
var tableNames = [
  '${tablePrefix}config'
  '${tablePrefix}links'
  '${tablePrefix}watermarks'
  '${tablePrefix}hooks'
  '${tablePrefix}runs'
  '${tablePrefix}failures'
  '${tablePrefix}conflicts'
  '${tablePrefix}scim'
  '${tablePrefix}bulkjobs'
]
var queues = {
  poll: 'tandem-poll'
  items: 'tandem-items'
  deadletter: 'tandem-deadletter'
}

// ---- resources -----------------------------------------------------------------------------
module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    location: location
    tags: tags
    retentionInDays: logRetentionDays
    dailyQuotaGb: logDailyQuotaGb
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: tags
    skuName: storageSku
    tableNames: tableNames
    deploymentContainerName: deploymentContainerName
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: names.serviceBus
    location: location
    tags: tags
    pollQueueName: queues.poll
    itemQueueName: queues.items
    deadletterQueueName: queues.deadletter
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: names.keyVault
    location: location
    tags: tags
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    consoleKeySecretName: consoleKeySecretName
    consoleFunctionKey: empty(adminSignInClientId) ? '' : consoleFunctionKey
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    planName: names.plan
    appName: appName
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultUri: keyVault.outputs.uri
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    tablePrefix: tablePrefix
    pollQueueName: queues.poll
    itemQueueName: queues.items
    deadletterQueueName: queues.deadletter
    pollSchedule: pollSchedule
    scimAdoConnection: scimAdoConnection
    scimTokenSecretName: scimTokenSecretName
    maxAttempts: maxAttempts
    requestBodyLimitBytes: requestBodyLimitBytes
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    adminSignInClientId: adminSignInClientId
    adminSignInTenantId: adminSignInTenantId
    consoleKeySecretName: consoleKeySecretName
    consoleFunctionKey: empty(adminSignInClientId) ? '' : consoleFunctionKey
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    appPrincipalId: functionApp.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    storageAccountName: storage.outputs.name
    tableNames: storage.outputs.tableNames
    rotatedSecretNames: rotatedSecretNames
    serviceBusNamespaceName: serviceBus.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    namePrefix: baseName
    location: location
    tags: tags
    alertEmail: alertEmail
    serviceBusNamespaceId: serviceBus.outputs.id
    deadletterQueueName: queues.deadletter
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    failureRatePercent: failureRatePercent
    pollIntervalMinutes: pollIntervalMinutes
    missedPolls: missedPolls
  }
}

// ---- what the operator needs next (see README "Deploy to Azure") ---------------------------
output functionAppName string = functionApp.outputs.name
output functionAppUrl string = 'https://${functionApp.outputs.defaultHostName}'
// The admin console; behind Entra sign-in the browser signs in first, then lands on the console.
var consolePath = empty(adminSignInClientId) ? '/api/console/' : '/.auth/login/aad?post_login_redirect_uri=/api/console/'
output consoleUrl string = 'https://${functionApp.outputs.defaultHostName}${consolePath}'
output keyVaultName string = keyVault.outputs.name
output keyVaultUrl string = keyVault.outputs.uri
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output storageAccountName string = storage.outputs.name
output appInsightsName string = monitoring.outputs.appInsightsName
output workbookId string = monitoring.outputs.workbookId
