"""``offline`` of a TransactionEvent is decided from the online periods kept on disk, so an
event renders the same after a crash or a reconnect as before."""

from __future__ import annotations

from pathlib import Path

from edge_controller.uplink.v201.online import KEPT, OnlinePeriods


def test_an_event_is_offline_outside_every_online_period(tmp_path: Path) -> None:
    periods = OnlinePeriods(tmp_path / "online.json", started_s=100.0)
    assert periods.offline(150.0)  # nothing known yet
    periods.up(200.0)
    periods.down(300.0)
    periods.up(400.0)
    assert [periods.offline(t) for t in (199.9, 200.0, 299.9, 300.0, 399.0, 400.0, 10_000.0)] == [
        True, False, False, True, True, False, False,
    ]  # fmt: skip


def test_a_period_a_crash_left_open_ends_when_the_next_process_starts(tmp_path: Path) -> None:
    path = tmp_path / "online.json"
    first = OnlinePeriods(path, started_s=0.0)
    first.up(100.0)  # killed: no down()
    in_flight_at_s = 150.0
    assert not first.offline(in_flight_at_s)
    second = OnlinePeriods(path, started_s=500.0)
    # Sent again after the restart: still online, the same CALL as before.
    assert not second.offline(in_flight_at_s)
    assert second.offline(600.0)  # after the next start, until the next connection


def test_only_the_newest_periods_are_kept_and_a_broken_file_loses_nothing_sent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "online.json"
    periods = OnlinePeriods(path, started_s=0.0)
    for n in range(KEPT + 5):
        periods.up(n * 10.0)
        periods.down(n * 10.0 + 5)
    again = OnlinePeriods(path, started_s=1e9)
    assert again.offline(1.0) and not again.offline((KEPT + 4) * 10.0 + 1)
    path.write_text("{not json", encoding="utf-8")
    assert OnlinePeriods(path, started_s=1e9).offline(1.0)
