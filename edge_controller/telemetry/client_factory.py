"""Builds the aiomqtt client from the settings: credentials, TLS, last will, MQTT v5."""

from __future__ import annotations

import ssl

import aiomqtt

from edge_controller.config.settings import MqttSettings

MAX_INCOMING = 100  # commands beyond this backlog are discarded by the client (and logged)
PUBLISH_WINDOW = 16  # messages awaiting the broker's acknowledgement at once


def tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    if not settings.tls:
        return None
    cafile = str(settings.ca_file) if settings.ca_file else None
    context = ssl.create_default_context(cafile=cafile)
    if settings.client_cert_file and settings.client_key_file:
        context.load_cert_chain(str(settings.client_cert_file), str(settings.client_key_file))
    return context


def build_client(
    settings: MqttSettings, client_id: str, status_topic: str, context: ssl.SSLContext | None
) -> aiomqtt.Client:
    """A client whose will marks the site offline if the connection dies without a goodbye."""
    password = settings.password.get_secret_value() if settings.password else None
    client = aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=password,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        will=aiomqtt.Will(status_topic, b"offline", qos=1, retain=True),
        keepalive=settings.keepalive_s,
        # Every publish and subscribe passes its own timeout: this one bounds the wait for the
        # broker's answer to a connection. The client does not see a connection closed before
        # that answer (a TCP proxy whose broker is down accepts, then closes): the reconnect
        # waits for this timeout.
        timeout=settings.connect_timeout_s,
        max_queued_incoming_messages=MAX_INCOMING,
        tls_context=context,
    )
    # The client warns above 10 calls awaiting the broker; the publisher keeps up to a window
    # of them on purpose (one more for the goodbye), so a large site's busy second logged a
    # warning for every publish. More than that is still worth a warning.
    client.pending_calls_threshold = PUBLISH_WINDOW + 1
    return client
