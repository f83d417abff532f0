"""Adapters for storage, queues and secrets: Table Storage, Service Bus or a local queue, Key Vault."""
