// The function app on the Flex Consumption plan (FC1, Linux, Python 3.11) with a system-assigned
// identity. Every connection is identity-based: no key or connection string is stored anywhere.

param planName string
param appName string
param location string
param tags object

param storageAccountName string
@description('Blob endpoint of the storage account, e.g. https://st123.blob.core.windows.net/')
param storageBlobEndpoint string
param deploymentContainerName string

param serviceBusFullyQualifiedNamespace string
param keyVaultUri string
param appInsightsConnectionString string
param logAnalyticsWorkspaceId string

param tablePrefix string
param pollQueueName string
param itemQueueName string
param deadletterQueueName string

@description('NCRONTAB (sec min hour day month dow) of the timer that enqueues due polls.')
param pollSchedule string

@description('Deliveries of an item message before the app parks it as failed.')
param maxAttempts int

@description('SCIM provisioning: the azure_devops connection (in the configuration) it provisions into; empty turns SCIM off.')
param scimAdoConnection string

@description('SCIM provisioning: the name of the Key Vault secret holding the bearer token the identity provider sends.')
param scimTokenSecretName string

@description('Request bodies above this many bytes get 413 from the Functions host (service hook payloads are a few KB).')
param requestBodyLimitBytes int

@allowed([512, 2048, 4096])
param instanceMemoryMB int

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Instances kept warm for HTTP (service hooks, admin API); each is billed while idle.')
@minValue(0)
param alwaysReadyHttpInstances int

@description('Entra app registration (client id) for admin sign-in; empty = App Service authentication off.')
param adminSignInClientId string = ''

param adminSignInTenantId string = subscription().tenantId

@description('Name of the Key Vault secret holding the admin console\'s function key.')
param consoleKeySecretName string = 'console-function-key'

@description('The admin console\'s function key, set as the host key `console` (empty: none).')
@secure()
param consoleFunctionKey string = ''

// The 'http' group serves every HTTP function (hooks, admin API, SCIM).
var alwaysReady = alwaysReadyHttpInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttpInstances }] : []

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy bills always-ready instances around the clock; work waits in Service Bus and polls catch up, so a zone outage delays syncs but loses nothing.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Azure DevOps Services delivers service hooks from the internet; hooks authenticate with the scenario's basic-auth secret, admin calls with a function key.
  // checkov:skip=CKV_AZURE_17: Azure DevOps service hooks cannot present client certificates; they authenticate with basic auth instead.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero per trigger; queued work survives an instance loss (alwaysReadyHttpInstances keeps HTTP warm).
  // checkov:skip=CKV_AZURE_213: a platform health probe every minute would keep an instance running and billed; point an availability test at GET /api/health instead.
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Flex Consumption: no FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION or WEBSITE_* here;
      // runtime and deployment live in functionAppConfig below.
      appSettings: [
        // Host storage (timers, leases) and the app's state tables, through the managed identity.
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storageAccountName
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'TABLE_PREFIX'
          value: tablePrefix
        }
        {
          name: 'ServiceBusConnection__fullyQualifiedNamespace'
          value: serviceBusFullyQualifiedNamespace
        }
        {
          name: 'ServiceBusConnection__credential'
          value: 'managedidentity'
        }
        {
          name: 'POLL_QUEUE'
          value: pollQueueName
        }
        {
          name: 'ITEM_QUEUE'
          value: itemQueueName
        }
        {
          name: 'DEADLETTER_QUEUE'
          value: deadletterQueueName
        }
        {
          name: 'KEY_VAULT_URL'
          value: keyVaultUri
        }
        {
          name: 'POLL_SCHEDULE'
          value: pollSchedule
        }
        {
          name: 'PUBLIC_BASE_URL'
          value: 'https://${appName}.azurewebsites.net'
        }
        {
          name: 'MAX_ATTEMPTS'
          value: string(maxAttempts)
        }
        {
          name: 'SCIM_ADO_CONNECTION'
          value: scimAdoConnection
        }
        {
          name: 'SCIM_TOKEN_SECRET'
          value: scimTokenSecretName
        }
        {
          // The admin console behind Entra sign-in reads its function key from this Key Vault secret.
          name: 'CONSOLE_KEY_SECRET'
          value: consoleKeySecretName
        }
        {
          // Request bodies above this many bytes get 413 from the Functions host before any code runs
          // (default 100 MB); ADO hook payloads are a few KB.
          name: 'FUNCTIONS_REQUEST_BODY_SIZE_LIMIT'
          value: string(requestBodyLimitBytes)
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsightsConnectionString
        }
        {
          // Local auth is off on the component: the host and the app's exporter send with the identity.
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'Authorization=AAD'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReady
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No FTP and no basic-auth publishing: deployments authenticate with Entra ID.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: site
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
  }
}

// Optional Microsoft Entra sign-in in front of the admin API (App Service authentication). Routes that
// cannot present an Entra token stay outside it, guarded by their own credentials: service hooks (basic
// auth), health, and SCIM (its bearer token).
resource adminSignIn 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(adminSignInClientId)) {
  // checkov reads every sites/config as the site's `web` configuration; this one holds authentication only:
  // checkov:skip=CKV_AZURE_13: this resource is the App Service authentication (authsettingsV2) itself.
  // checkov:skip=CKV_AZURE_63: HTTP logs are site configuration, not authentication; the site sends FunctionAppLogs to Log Analytics.
  // checkov:skip=CKV_AZURE_65: detailed error messages are site configuration, not part of authentication settings.
  // checkov:skip=CKV_AZURE_66: failed request tracing is site configuration, not part of authentication settings.
  // checkov:skip=CKV_AZURE_80: no .NET Framework: the app runs Python 3.11.
  // checkov:skip=CKV_AZURE_88: Azure Files does not apply: Flex Consumption runs the package from a blob container.
  // checkov:skip=CKV_AZURE_222: Azure DevOps delivers service hooks from the internet; the site itself carries the same justified skip.
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [
        '/api/hooks/*'
        '/api/health'
        '/api/scim/*'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: adminSignInClientId
          openIdIssuer: 'https://login.microsoftonline.com/${adminSignInTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${adminSignInClientId}'
            adminSignInClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}

// The Functions host asks every admin route for a function key, Entra sign-in or not (it has no "signed-in
// user" level): the console gets this host key from /api/console/session once an administrator signed in.
resource functionsHost 'Microsoft.Web/sites/host@2024-04-01' existing = {
  parent: site
  name: 'default'
}

resource consoleKey 'Microsoft.Web/sites/host/functionKeys@2024-04-01' = if (!empty(consoleFunctionKey)) {
  parent: functionsHost
  name: 'console'
  properties: {
    name: 'console'
    value: consoleFunctionKey
  }
}

output id string = site.id
output name string = site.name
output principalId string = site.identity.principalId
output defaultHostName string = site.properties.defaultHostName
