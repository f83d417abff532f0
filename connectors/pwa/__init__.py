"""Project Online / Project Server (PWA) published tasks behind the connector contract."""

from connectors.pwa.config import PwaOptions
from connectors.pwa.connector import PwaConnector
from connectors.pwa.setup import CustomFieldSpec, FieldsReport, scenario_fields

__all__ = ["CustomFieldSpec", "FieldsReport", "PwaConnector", "PwaOptions", "scenario_fields"]
