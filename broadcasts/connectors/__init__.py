"""Provider connectors, one module per backend, registered here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broadcasts.smpp.connector import SmppConnector  # the plugin lives with its SMPP package

from .base import (
    HOOK_INBOUND,
    HOOK_STATUS,
    BaseConnector,
    HookRejected,
    HookResult,
    InboundMessage,
    OutboundMessage,
    ReportLater,
    SendResult,
    StatusUpdate,
)
from .generic_http import HttpBackendConnector
from .simulator import SimulatorConnector
from .telegram import TelegramConnector
from .twilio import TwilioConnector
from .whatsapp_cloud import WhatsappCloudConnector

if TYPE_CHECKING:
    from broadcasts.models import Connector

REGISTRY: dict[str, type[BaseConnector]] = {
    SimulatorConnector.backend: SimulatorConnector,
    TelegramConnector.backend: TelegramConnector,
    TwilioConnector.backend: TwilioConnector,
    HttpBackendConnector.backend: HttpBackendConnector,
    WhatsappCloudConnector.backend: WhatsappCloudConnector,
    SmppConnector.backend: SmppConnector,
}


def connector_class(backend: str) -> type[BaseConnector]:
    try:
        return REGISTRY[backend]
    except KeyError:
        raise LookupError(f"No connector implementation for backend '{backend}'.") from None


def build_connector(connector: Connector) -> BaseConnector:
    cls = connector_class(connector.backend)
    return cls(connector_id=str(connector.id), name=connector.name, channel=connector.channel, config=connector.config)


__all__ = [
    "HOOK_INBOUND",
    "HOOK_STATUS",
    "REGISTRY",
    "BaseConnector",
    "HookRejected",
    "HookResult",
    "InboundMessage",
    "OutboundMessage",
    "ReportLater",
    "SendResult",
    "StatusUpdate",
    "build_connector",
    "connector_class",
]
