// Sample parameters: copy to e.g. infra/contoso.bicepparam, edit, and deploy with
//   az deployment group create -g <resource-group> -f infra/main.bicep -p infra/contoso.bicepparam
using './main.bicep'

param baseName = 'tandem'
param alertEmail = 'tandem-operators@contoso.com'

// Object id of the admin (az ad signed-in-user show --query id -o tsv) or of an admin group.
param operatorPrincipalId = ''
param operatorPrincipalType = 'User'

param pollSchedule = '0 * * * * *'
param alwaysReadyHttpInstances = 0
param instanceMemoryMB = 2048
param storageSku = 'Standard_ZRS'
param logRetentionDays = 30
param logDailyQuotaGb = -1

// The no-poll alert fires after missedPolls x pollIntervalMinutes without a successful poll.
param pollIntervalMinutes = 60
param missedPolls = 3
param failureRatePercent = 10
