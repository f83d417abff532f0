// Service Bus namespace (Standard: sessions and duplicate detection need it) with the app's queues.

param name string
param location string
param tags object

@description('Queue of poll messages, one per scenario direction that is due (session = scenario direction).')
param pollQueueName string

@description('Queue of item messages (ids only); session = the unit written serially on the target.')
param itemQueueName string

@description('Queue where the app parks items that failed permanently, with the reason in message properties.')
param deadletterQueueName string

param logAnalyticsWorkspaceId string

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    // Entra ID only: no SAS keys to copy around or leak.
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    // Only the app talks to the namespace, but it has no fixed outbound IPs (see storage.bicep).
    publicNetworkAccess: 'Enabled'
  }
}

// Session and duplicate-detection flags are fixed when a queue is created.
resource pollQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: pollQueueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    deadLetteringOnMessageExpiration: true
    // A poll nobody ran within a day is stale; dead-lettering it raises the dead-letter alert.
    defaultMessageTimeToLive: 'P1D'
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
  }
}

resource itemQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: itemQueueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
  }
}

resource deadletterQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: deadletterQueueName
  properties: {
    // Parked items wait, without expiring, until a person replays or deletes them.
    requiresSession: false
    requiresDuplicateDetection: false
    deadLetteringOnMessageExpiration: false
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: namespace
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

output id string = namespace.id
output name string = namespace.name
// e.g. sb-tandem-x.servicebus.windows.net, derived from the endpoint so sovereign clouds work too.
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')
