"""The durable uplink outbox: the events the CSMS must hear of, in order, at least once.

``store`` (the ``Outbox``), ``rows`` (SQL run inside a caller's transaction, also by the session
store), ``codec`` (the stored JSON form of events, versioned), ``capacity`` (warnings and
thinning), ``journal`` (acks made durable by a file append), ``from_ocpp16`` (the migration of
rows written as OCPP 1.6 messages before schema 8), ``parked_security`` (the schema 16 step:
security events parked on 1.6 by earlier releases, back in line), ``queued`` (which identities
a commit put rows in line for: their senders wake on it).
"""

from edge_controller.storage.outbox.capacity import DEFAULT_CAPACITY, OutboxStats
from edge_controller.storage.outbox.journal import (
    AckJournal,
    journal_path,
    remove_journals,
)
from edge_controller.storage.outbox.rows import (
    MessageKind,
    OutboxMessage,
    append_in,
)
from edge_controller.storage.outbox.store import Outbox

__all__ = [
    "DEFAULT_CAPACITY",
    "AckJournal",
    "MessageKind",
    "Outbox",
    "OutboxMessage",
    "OutboxStats",
    "append_in",
    "journal_path",
    "remove_journals",
]
