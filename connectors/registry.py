"""Connector types by name: the settings model that validates a source, and the class that runs it."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Unpack

from pydantic import BaseModel

from connectors.base import Connector, ConnectorParts


@dataclass(frozen=True)
class ConnectorType:
    module: str
    settings: str
    connector: str

    def load(self) -> tuple[type[BaseModel], type[Connector]]:
        mod = importlib.import_module(self.module)
        return getattr(mod, self.settings), getattr(mod, self.connector)


CONNECTOR_TYPES: Mapping[str, ConnectorType] = {
    "files": ConnectorType("connectors.files", "FilesConnectorSettings", "FilesConnector"),
    "zendesk": ConnectorType("connectors.zendesk", "ZendeskSettings", "ZendeskConnector"),
    "freshdesk": ConnectorType("connectors.freshdesk", "FreshdeskSettings", "FreshdeskConnector"),
    "intercom": ConnectorType("connectors.intercom", "IntercomSettings", "IntercomConnector"),
    "web": ConnectorType("connectors.web", "WebSettings", "WebConnector"),
}


def build_connector(settings: BaseModel, **parts: Unpack[ConnectorParts]) -> Connector:
    """Instantiate the connector for validated ``settings``; every type takes the same ``parts``."""
    _, cls = CONNECTOR_TYPES[settings.type].load()  # type: ignore[attr-defined]
    return cls(settings, **parts)
