"""The identity's state file is rewritten (with an fsync) only when a value changes: every boot
sets the CSMS's HeartbeatInterval again, and at an identity per charger those writes held the
event loop for seconds."""

from __future__ import annotations

from pathlib import Path

from edge_controller.uplink.state_file import OcppStateFile


def test_an_unchanged_value_is_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "ocpp-cp1.json"
    state = OcppStateFile(path, {"HeartbeatInterval": "300"})
    state.set("HeartbeatInterval", "300")  # nothing on disk yet: written
    written = path.stat().st_ino
    state.set("HeartbeatInterval", "300")
    assert path.stat().st_ino == written  # a rewrite replaces the file (a new inode)
    state.set("HeartbeatInterval", "60")
    assert path.stat().st_ino != written
    assert OcppStateFile(path, {"HeartbeatInterval": "300"}).get("HeartbeatInterval") == "60"


def test_a_boot_interval_equal_to_the_one_in_use_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ocpp-cp1.json"
    state = OcppStateFile(path, {"HeartbeatInterval": "300"})
    state.follow("HeartbeatInterval", "300")
    assert not path.exists()
    state.follow("HeartbeatInterval", "120")
    assert OcppStateFile(path, {"HeartbeatInterval": "300"}).get("HeartbeatInterval") == "120"
