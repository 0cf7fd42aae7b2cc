"""Sending the durable outbox of one identity: in order, one CALL in flight (``sender``), with
read-ahead (``prefetch``), acks made durable before the next CALL (``acks``), each event
rendered for the connection's protocol at send time (``rendering``, the seam; ``uplink/v16/
render.py`` for OCPP 1.6) and a progress line while a backlog drains (``progress``).
"""

from edge_controller.uplink.outbox.acks import AckPipeline, JournalingOutbox
from edge_controller.uplink.outbox.prefetch import Prefetch
from edge_controller.uplink.outbox.progress import DrainProgress
from edge_controller.uplink.outbox.rendering import (
    NotSendable,
    Rendering,
    StartConfirmed,
    outbox_unique_id,
)
from edge_controller.uplink.outbox.sender import OutboxSender

__all__ = [
    "AckPipeline",
    "DrainProgress",
    "JournalingOutbox",
    "NotSendable",
    "OutboxSender",
    "Prefetch",
    "Rendering",
    "StartConfirmed",
    "outbox_unique_id",
]
