"""The identity's state file is rewritten (with an fsync) only when a value changes: every boot
sets the CSMS's HeartbeatInterval again, and at an identity per charger those writes held the
event loop for seconds."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from types import MappingProxyType

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


def test_identities_alike_share_the_defaults_and_each_keeps_only_what_differs(
    tmp_path: Path,
) -> None:
    """Counted, not timed: each identity's file copied the defaults (some eighty entries,
    about 4.7 kB a copy, 4.7 MB at a thousand identities); now they share one read-only
    mapping, and what a file keeps of its own is what differs from it. The file on disk
    still holds every value."""
    defaults = MappingProxyType({f"Key{n}": str(n) for n in range(80)})
    paths = [tmp_path / f"ocpp-cp{n}.json" for n in range(100)]
    paths[0].write_text(json.dumps({"configuration": {**defaults, "Key2": "changed"}}))
    measured: list[float] = []
    for _ in range(3):  # the least of three: a thread of an earlier test may allocate meanwhile
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            files = [OcppStateFile(path, defaults) for path in paths]
            measured.append((tracemalloc.get_traced_memory()[0] - before) / len(paths))
        finally:
            tracemalloc.stop()
    assert min(measured) < 1_500, measured
    files[1].set("Key1", "set")
    assert files[0].get("Key2") == "changed" and files[1].get("Key2") == "2"
    assert files[1].get("Key1") == "set" and files[2].get("Key1") == "1"
    on_disk = json.loads(paths[1].read_text())["configuration"]
    assert on_disk == {**defaults, "Key1": "set"} and dict(defaults)["Key1"] == "1"
    assert OcppStateFile(paths[1], defaults).items() == on_disk
