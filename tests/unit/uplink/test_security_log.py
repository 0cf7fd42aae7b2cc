"""The security log on the gateway: every event kept as raised, oldest first; rotated so it
never holds more than its bound; a window of time chooses entries; a torn line is skipped."""

from __future__ import annotations

import json
from pathlib import Path

from edge_controller.domain.security import SecurityEventKind, SecurityEventRaised
from edge_controller.uplink.security_log import SecurityLog, Window

T0_S = 1_795_737_600.0


def _event(number: int) -> SecurityEventRaised:
    return SecurityEventRaised(SecurityEventKind.RESET_OR_REBOOT, T0_S + number, f"n{number}")


def test_rotated_within_its_bound_keeping_the_newest_in_order(tmp_path: Path) -> None:
    kept = SecurityLog(tmp_path / "security.log", max_bytes=1000, keep=2)
    for number in range(100):
        kept.append(_event(number))
    files = kept.files()
    assert [p.name for p in files] == ["security.log.2", "security.log.1", "security.log"]
    assert sum(p.stat().st_size for p in files) <= 3 * 1000
    numbers = [int(str(e["techInfo"])[1:]) for e in kept.entries()]
    assert numbers == list(range(100 - len(numbers), 100))  # the newest, none missing
    assert len(numbers) > 2 * 1000 // 120  # about a line's size: the rotated files are full


def test_a_window_chooses_by_time_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    kept = SecurityLog(tmp_path / "security.log")
    for number in range(5):
        kept.append(_event(number))
    with kept.path.open("ab") as file:
        file.write(b'{"at_s": 17957')  # power lost in the middle of a line
    kept.append(_event(5))
    window = Window(T0_S + 1, T0_S + 3)
    assert [e["techInfo"] for e in kept.entries(window)] == ["n1", "n2", "n3"]
    assert len(list(kept.entries())) == 6
    first = json.loads(kept.text(Window(latest_s=T0_S)).decode())
    assert first == {"at_s": T0_S, "timestamp": "2026-11-27T00:00:00.000Z",
                     "type": "ResetOrReboot", "techInfo": "n0"}  # fmt: skip


def test_a_disk_that_fails_loses_the_line_not_the_event(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    kept = SecurityLog(tmp_path / "file" / "security.log")  # a directory that cannot be made
    kept.append(_event(1))
    assert list(kept.entries()) == []
