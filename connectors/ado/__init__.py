"""Azure DevOps (Services and Server) work items behind the connector contract."""

from connectors.ado.config import AdoOptions
from connectors.ado.connector import AdoConnector
from connectors.ado.hooks import SubscriptionReport

__all__ = ["AdoConnector", "AdoOptions", "SubscriptionReport"]
