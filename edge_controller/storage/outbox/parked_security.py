"""The schema 16 step: security events an earlier release parked on an OCPP 1.6 connection
are put back in line.

Before 1.6 spoke the security extension's SecurityEventNotification, the sender parked every
security event it had to send on a 1.6 connection as not sendable. Those rows would stay
parked for good, though the events can be sent now; they go back in line at their place (their
attempts from zero). A CSMS without the extension answers NotImplemented and the sender parks
them again at once, with that reason.
"""

from __future__ import annotations

import sqlite3

from edge_controller.log import get_logger
from edge_controller.storage.outbox.codec import SECURITY_EVENT

log = get_logger("storage.outbox")
# What the sender of those releases wrote as the reason (``last_error``).
OLD_REASON = "security events are sent on OCPP 2.x connections only"


def requeue_parked_security_events(conn: sqlite3.Connection) -> None:
    """Inside the caller's transaction."""
    rows = conn.execute(
        "UPDATE outbox SET state = 'pending', attempts = 0, last_error = NULL"
        " WHERE state = 'parked' AND event = ? AND instr(last_error, ?) > 0 RETURNING seq",
        (SECURITY_EVENT, OLD_REASON),
    ).fetchall()
    if rows:
        log.warning("security events parked by an earlier release put back in line",
                    count=len(rows), seqs=sorted(int(row[0]) for row in rows))  # fmt: skip
