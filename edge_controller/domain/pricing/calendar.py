"""The instants at which local-time conditions may change: time-of-day boundaries, midnights
and daylight-saving changes of the site's time zone, in the site's local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo


def calendar_breaks(
    start: datetime, end: datetime, zone: tzinfo, boundaries: frozenset[time]
) -> list[datetime]:
    """Every instant in (start, end) where the local wall clock reaches one of ``boundaries``
    (midnight always) or jumps (a daylight-saving change), in UTC, sorted.

    Between two consecutive instants the local clock runs on without a jump and passes no
    boundary, so any condition on local time, day of week or date is constant there."""
    marks = boundaries | {time(0)}
    found: set[datetime] = set()
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    for day in _days(first, last):
        for mark in marks:
            wall = datetime.combine(day, mark)
            # A wall time in a gap or in the repeated hour has two readings; take both.
            for fold in (0, 1):
                found.add(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC))
        found.update(_offset_changes(day, zone))
    return sorted(moment for moment in found if start < moment < end)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _offset_changes(day: date, zone: tzinfo) -> list[datetime]:
    """The instant the zone's UTC offset changes during ``day`` (local), if it does."""
    low = datetime.combine(day, time(0), zone).astimezone(UTC)
    high = low + timedelta(days=1)
    if _offset(low, zone) == _offset(high, zone):
        return []
    # Zones change offset on whole seconds: bisect to the first second of the new offset.
    before, after = int(low.timestamp()), int(high.timestamp())
    late = _offset(high, zone)
    while after - before > 1:
        middle = (before + after) // 2
        if _offset(datetime.fromtimestamp(middle, UTC), zone) == late:
            after = middle
        else:
            before = middle
    return [datetime.fromtimestamp(after, UTC)]


def _offset(moment: datetime, zone: tzinfo) -> timedelta | None:
    return moment.astimezone(zone).utcoffset()
