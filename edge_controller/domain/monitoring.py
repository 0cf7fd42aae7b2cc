"""Variable monitoring: a change a monitor the CSMS set watches (pure).

The change is committed to the outbox when the station sees it and told (OCPP 2.x NotifyEvent)
when a connection is up, so one seen while offline reaches the CSMS after the reconnect, in
its place among the other events, once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MonitorTriggered:
    """One monitored variable's change as the outbox keeps it (rendered at send time)."""

    monitor_id: int
    connector_id: str  # the site's connector whose variable changed
    variable: str
    value: str  # the variable's value after the change
    at_s: float

    @property
    def session_local_id(self) -> None:
        """A change belongs to no session (the outbox rows' session column)."""
        return None
