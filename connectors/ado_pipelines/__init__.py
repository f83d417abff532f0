"""Classic release pipelines of Azure DevOps Server and Services with what they depend on (agent queues and
pools, service connections, task groups, variable groups): the connector (`connector`), its REST calls
(`client`), and pure helpers for a copy between two systems: id remapping (`remap`), pre-flight
(`preflight`) and YAML export (`yaml_export`)."""
