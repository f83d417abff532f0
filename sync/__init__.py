"""The sync engine: scheduling, polling, hook intake, three-way merge and apply. Knows no vendor URL."""
