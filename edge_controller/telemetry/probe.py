"""One connection to the MQTT broker for commissioning: connect with the configured
credentials and TLS, then leave (no will is published: the goodbye is clean)."""

from __future__ import annotations

import aiomqtt

from edge_controller.config.settings import MqttSettings
from edge_controller.telemetry.client_factory import tls_context

PROBE_TIMEOUT_S = 10.0


async def probe_broker(settings: MqttSettings, client_id: str) -> str | None:
    """None when the broker took the connection, else why not."""
    password = settings.password.get_secret_value() if settings.password else None
    client = aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=password,
        identifier=client_id,
        timeout=PROBE_TIMEOUT_S,
        tls_context=tls_context(settings),
    )
    try:
        async with client:
            return None
    except aiomqtt.MqttError as exc:
        return str(exc)
