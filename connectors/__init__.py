"""Connectors: one package per external system, each implementing `connectors.contract.Connector`."""
