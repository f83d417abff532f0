// Alert rules and the action group that e-mails the operators.
// Metric alerts watch Service Bus; log alerts query the custom metrics and events the app
// sends to Application Insights (sync/telemetry.py), stored in the workspace's App* tables.

param namePrefix string
param location string
param tags object

@description('Address that receives alert e-mails.')
param alertEmail string

param serviceBusNamespaceId string

@description('Queue where the app parks items that failed permanently.')
param deadletterQueueName string

param logAnalyticsWorkspaceId string

@description('Alert when more than this percentage of a scenario direction\'s items failed in 15 minutes.')
@minValue(1)
@maxValue(100)
param failureRatePercent int = 10

@description('...and at least this many items failed, so one failure out of two items does not page anyone.')
@minValue(1)
param minimumFailures int = 5

@description('Interval of the slowest direction schedule, in minutes (e.g. 60 for "0 0 * * * *").')
@minValue(1)
param pollIntervalMinutes int = 60

@description('Alert when a direction has had no successful poll for this many intervals.')
@minValue(1)
param missedPolls int = 3

var actions = {
  actionGroups: [
    actionGroup.id
  ]
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-operators'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'tandem-ops'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// Service Bus moved a message to a $deadletterqueue (expired, or delivered maxDeliveryCount times).
resource deadletteredAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-dead-lettered-messages'
  location: 'global'
  tags: tags
  properties: {
    description: 'A Service Bus queue has dead-lettered messages. Read them with `tandem status`, replay with `tandem deadletters replay QUEUE`.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'deadlettered'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// The app parked items that failed permanently (validation, missing field, permission).
resource parkedAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-parked-items'
  location: 'global'
  tags: tags
  properties: {
    description: 'Items failed permanently and wait in ${deadletterQueueName}. `tandem status` shows the reasons; fix the cause, then `tandem deadletters replay ${deadletterQueueName}`.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'parked'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'ActiveMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                deadletterQueueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource failureRateAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-failure-rate'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Tandem: failure rate above ${failureRatePercent}%'
    description: 'Share of failed items (tandem.failures) among processed items, per scenario direction, over 15 minutes.'
    severity: 2
    enabled: true
    scopes: [
      logAnalyticsWorkspaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: format(
            '''
AppMetrics
| where Name in ("tandem.failures", "tandem.items_synced")
| extend scenario = tostring(Properties.scenario), direction = tostring(Properties.direction)
| summarize failures = sumif(Sum, Name == "tandem.failures"), synced = sumif(Sum, Name == "tandem.items_synced") by scenario, direction
| extend failure_percent = 100.0 * failures / (failures + synced)
| where failures >= {0} and failure_percent > {1}
''',
            minimumFailures,
            failureRatePercent
          )
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'scenario'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'direction'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// The app emits this event when it finds an ADO service hook subscription that ADO disabled
// (after repeated delivery failures): changes then only arrive by polling.
resource hookDisabledAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-hook-subscription-disabled'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Tandem: service hook subscription disabled'
    description: 'Azure DevOps disabled a service hook subscription. Re-enable it with `tandem hooks ensure SCENARIO`.'
    severity: 2
    enabled: true
    scopes: [
      logAnalyticsWorkspaceId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '''
union isfuzzy=true
  (AppEvents | where Name == "tandem.hook_subscription_disabled"),
  (AppTraces | where Message startswith "tandem.hook_subscription_disabled")
| extend scenario = tostring(Properties.scenario), system = tostring(Properties.system), subscription_id = tostring(Properties.subscription_id)
'''
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'scenario'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// A direction that polled successfully in the last two days but not in the last N schedules.
resource pollSilenceAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-no-successful-poll'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Tandem: no successful poll for ${missedPolls} schedules'
    description: 'A scenario direction has not completed a poll (tandem.poll_succeeded) for ${missedPolls * pollIntervalMinutes} minutes.'
    severity: 2
    enabled: true
    scopes: [
      logAnalyticsWorkspaceId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: format(
            '''
AppMetrics
| where Name == "tandem.poll_succeeded"
| extend scenario = tostring(Properties.scenario), direction = tostring(Properties.direction)
| summarize last_success = max(TimeGenerated) by scenario, direction
| where last_success < ago({0}m)
''',
            missedPolls * pollIntervalMinutes
          )
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'scenario'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'direction'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

output actionGroupId string = actionGroup.id
