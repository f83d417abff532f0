"""Adapters for storage, queues and secrets: Table Storage (Azurite locally), Service Bus / local queue, Key Vault / local."""
