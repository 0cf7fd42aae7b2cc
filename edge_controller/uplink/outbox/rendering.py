"""The seam between the outbox sender and the protocol of its connection.

The outbox holds events (``domain.sessions.events``); a ``Rendering`` turns one into the request
of the connection's protocol version when it is sent (``uplink/v16/render.py`` for OCPP 1.6)
and reads the answer to a session's start. The sender knows no protocol message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from edge_controller.uplink.ports import QueuedMessage


class NotSendable(ValueError):
    """The event can never be sent as it is (it is parked with this reason)."""


class NothingToSend(Exception):
    """The event means nothing on this connection's protocol (1.6: a transaction begun at a
    plug-in, which 1.6 starts at the authorisation): acked without a CALL."""


@dataclass(frozen=True, slots=True)
class StartConfirmed:
    """The CSMS's answer to a session's start: the transaction id kept for the session (1.6:
    the CSMS's; 2.x: the number that makes the station's own id unique) and the token's
    status (``AuthStatus`` values)."""

    remote_transaction_id: int
    token_status: str


class Rendering(Protocol):
    # Whether the answer to a session's start says what only the CSMS knows (1.6: its
    # transaction id): then it must survive a power loss before anything behind it is sent.
    # On 2.x the transaction id is the station's own, made from the session's start.
    start_answer_power_safe: bool

    def request(self, message: QueuedMessage) -> tuple[str, dict[str, Any]]:
        """(action, payload) of ``message``'s event; raises ``NotSendable``, or ``NothingToSend``
        for an event this protocol has no message for. The connection
        frames and schema-checks it (``RpcEndpoint.prepared``)."""
        ...

    def starts_transaction(self, message: QueuedMessage) -> bool:
        """Whether ``message`` starts its transaction: its answer confirms the transaction id
        the events behind it need (1.6: a session's start; 2.x: the first event of one)."""
        ...

    def start_confirmed(self, message: QueuedMessage, answer: dict[str, Any]) -> StartConfirmed:
        """What the answer to ``message`` (a session's start) confirms."""
        ...

    async def answered(self, message: QueuedMessage, answer: dict[str, Any]) -> None:
        """Take in what else an answer says (2.x: the CSMS's cost of the session)."""
        ...

    def token_status(self, message: QueuedMessage, answer: dict[str, Any]) -> str | None:
        """The status of the session's token in the answer to ``message`` (a later event
        of a running session; ``AuthStatus`` values), None when the answer gives none."""
        ...


def outbox_unique_id(message: QueuedMessage) -> str:
    """The CALL's unique id, the same every time the message is sent: a message sent again
    (its answer was lost to a crash or a dropped connection) is byte for byte the same CALL,
    so a CSMS can recognise the repeat by its id. The time the message was queued keeps ids
    apart when a new database numbers its messages from 1 again."""
    return f"ob-{message.seq}-{round(message.created_at_s * 1000)}"
