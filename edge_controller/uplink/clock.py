"""Wall-clock handling for OCPP timestamps: sync from the CSMS, repair early timestamps.

A controller without a real-time clock starts near 1970. Timestamps recorded before the first
sync are shifted by the offset learned at the sync (the local clock kept running meanwhile), so
nothing is ever sent with a year-1970 date.
"""

from __future__ import annotations

from datetime import UTC, datetime

# Anything before this cannot be a real reading time for this product.
PLAUSIBLE_AFTER_S = datetime(2020, 1, 1, tzinfo=UTC).timestamp()


def to_iso(at_s: float) -> str:
    """OCPP dateTime: UTC with millisecond precision and a ``Z`` suffix."""
    moment = datetime.fromtimestamp(at_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def from_iso(text: str) -> float:
    """Seconds since the epoch for an OCPP dateTime; naive times are taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class ClockSync:
    """Offset between the CSMS clock and ours; ``now_s`` is the best estimate of real time."""

    def __init__(self) -> None:
        self.offset_s = 0.0
        self.synced = False

    def sync(self, csms_time_iso: str, local_now_s: float) -> None:
        self.offset_s = from_iso(csms_time_iso) - local_now_s
        self.synced = True

    def now_s(self, local_now_s: float) -> float:
        return local_now_s + self.offset_s

    def repair(self, timestamp_iso: str) -> str:
        """Shift an implausibly early timestamp by the learned offset; leave good ones alone."""
        at_s = from_iso(timestamp_iso)
        if at_s >= PLAUSIBLE_AFTER_S or not self.synced:
            return timestamp_iso
        return to_iso(at_s + self.offset_s)
