"""Wall-clock handling for OCPP timestamps: one clock for everything the site reports.

Every timestamp the site sends (StartTransaction, MeterValues, StatusNotification,
StopTransaction) comes from the site's own clock, so the messages of one transaction always
agree with each other. The CSMS's ``currentTime`` (BootNotification, Heartbeat) only measures
the skew, which is logged; it never moves the site's timestamps, with one exception: a
controller without a real-time clock starts near 1970, and timestamps before 2020 cannot be
real. Those are shifted by the offset learned at the sync (the local clock kept running
meanwhile), every one of them alike, so nothing is ever sent with a year-1970 date.

Absolute times the CSMS gives (charging-profile schedules, reservation expiry) are in the CSMS's
clock: ``csms_now_s`` is our moment in that clock, for comparing with them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from edge_controller.log import get_logger

# Anything before this cannot be a real reading time for this product.
PLAUSIBLE_AFTER_S = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
# A skew above this is logged as a warning (the site's time source needs attention).
SKEW_WARN_S = 10.0

log = get_logger("uplink.clock")


def to_iso(at_s: float) -> str:
    """OCPP dateTime: UTC with millisecond precision and a ``Z`` suffix."""
    m = datetime.fromtimestamp(at_s, tz=UTC)  # formatted by hand: strftime took a third longer
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
            f".{m.microsecond // 1000:03d}Z")  # fmt: skip


def from_iso(text: str) -> float:
    """Seconds since the epoch for an OCPP dateTime; naive times are taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class ClockSync:
    """The skew between the CSMS's clock and ours (``offset_s``: theirs minus ours)."""

    def __init__(self) -> None:
        self.offset_s = 0.0
        self.synced = False
        self._warned = False

    def sync(self, csms_time_iso: str, local_now_s: float) -> bool:
        """Learn the skew; True when this sets the time the site reports (an implausible
        local clock gets its first offset, or one moved by more than SKEW_WARN_S)."""
        before_s = self.offset_s if self.synced else None
        self.offset_s = from_iso(csms_time_iso) - local_now_s
        self.synced = True
        repairing = local_now_s < PLAUSIBLE_AFTER_S
        moved = before_s is None or abs(self.offset_s - before_s) > SKEW_WARN_S
        large = abs(self.offset_s) > SKEW_WARN_S
        if large and not self._warned and local_now_s >= PLAUSIBLE_AFTER_S:
            log.warning("site clock differs from the CSMS's; timestamps stay on the site clock",
                        skew_s=round(self.offset_s, 3))  # fmt: skip
        elif not large and self._warned:
            log.info("site clock agrees with the CSMS's again", skew_s=round(self.offset_s, 3))
        self._warned = large
        return repairing and moved

    def now_s(self, local_now_s: float) -> float:
        """The time to report for ``local_now_s``: the site's clock (repaired if implausible)."""
        if local_now_s >= PLAUSIBLE_AFTER_S or not self.synced:
            return local_now_s
        return local_now_s + self.offset_s

    def csms_now_s(self, local_now_s: float) -> float:
        """``local_now_s`` in the CSMS's clock, for comparing with times the CSMS gave."""
        return local_now_s + self.offset_s

    def iso(self, at_s: float) -> str:
        """``to_iso`` of ``at_s``, ``repair``ed (without reading the text back when it is
        plausible, as every time of a site with a real-time clock is)."""
        if at_s >= PLAUSIBLE_AFTER_S or not self.synced:
            return to_iso(at_s)  # whole seconds apart: to_iso's truncation keeps the verdict
        return self.repair(to_iso(at_s))

    def repair(self, timestamp_iso: str) -> str:
        """Shift an implausibly early timestamp by the learned offset; leave good ones alone."""
        at_s = from_iso(timestamp_iso)
        if at_s >= PLAUSIBLE_AFTER_S or not self.synced:
            return timestamp_iso
        return to_iso(at_s + self.offset_s)
