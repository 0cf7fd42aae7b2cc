"""Sending the durable outbox of one identity: in order, one CALL in flight (``sender``), with
read-ahead (``prefetch``), acks made durable before the next CALL (``acks``), the payload built
at send time (``payloads``) and a progress line while a backlog drains (``progress``).
"""

from edge_controller.uplink.outbox.acks import AckPipeline, JournalingOutbox
from edge_controller.uplink.outbox.payloads import NotSendable
from edge_controller.uplink.outbox.prefetch import Prefetch
from edge_controller.uplink.outbox.progress import DrainProgress
from edge_controller.uplink.outbox.sender import OutboxSender, outbox_unique_id

__all__ = [
    "AckPipeline",
    "DrainProgress",
    "JournalingOutbox",
    "NotSendable",
    "OutboxSender",
    "Prefetch",
    "outbox_unique_id",
]
