"""State files are replaced whole, and written off the event loop while one runs."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from edge_controller.uplink import json_file
from edge_controller.uplink.json_file import JsonFileWriter, write_json_atomically


def test_a_state_file_is_replaced_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ocpp-site1.json"
    write_json_atomically(path, {"b": 1, "a": [1, 2]})
    assert path.read_text(encoding="utf-8").startswith('{\n "a"')  # readable: sorted, indented
    write_json_atomically(path, [[1.5, None]], readable=False)
    assert json.loads(path.read_text(encoding="utf-8")) == [[1.5, None]]
    assert sorted(p.name for p in path.parent.iterdir()) == ["ocpp-site1.json"]


async def test_a_writer_writes_off_the_event_loop_the_newest_content_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An fsync in the event loop held every identity's work while the disk flushed."""
    synced_in: list[int] = []
    fsync = os.fsync

    def recorded(fd: int) -> None:
        synced_in.append(threading.get_ident())
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recorded)
    path = tmp_path / "state" / "ocpp-cp1.json"
    writer = JsonFileWriter(path)
    for n in range(5):
        writer.write({"configuration": {"MeterValueSampleInterval": str(n)}})
    await writer.written()
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "configuration": {"MeterValueSampleInterval": "4"}
    }
    assert synced_in and threading.get_ident() not in synced_in
    assert len(synced_in) <= 2  # the first, and the newest of those asked for meanwhile
    assert sorted(p.name for p in path.parent.iterdir()) == ["ocpp-cp1.json"]


async def test_a_failed_write_fails_only_a_wait_for_what_was_asked_after_its_mark(
    tmp_path: Path,
) -> None:
    """A change nobody answers for (a profile that ended) failed to be written: the next,
    unrelated CALL's answer must not fail for it, after its handler already acted."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the state directory should be")
    writer = JsonFileWriter(blocked / "ocpp-cp1.json")
    with capture_logs() as logs:
        writer.write({"a": 1})
        mark = writer.asked()
        await writer.written(mark)  # nothing asked for since the mark
    assert [e["path"] for e in logs if e["log_level"] == "error"] == [str(writer.path)]
    with pytest.raises(OSError):
        await writer.written()  # from the start: {"a": 1} is not on disk
    writer.write({"a": 2})
    with pytest.raises(OSError):
        await writer.written(mark)  # a change after the mark, not on disk
    with pytest.raises(OSError):
        await writer.written(mark)  # as often as asked: it is still not on disk
    blocked.unlink()
    writer.write({"a": 3})
    await writer.written(mark)
    await writer.written()  # the newest content holds every change: all on disk
    assert json.loads((blocked / "ocpp-cp1.json").read_text(encoding="utf-8")) == {"a": 3}


async def test_a_write_failing_with_an_error_other_than_os_error_is_not_taken_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path, text: str) -> None:
        raise ValueError("the encoder broke")

    monkeypatch.setattr(json_file, "_write_text", broken)
    writer = JsonFileWriter(tmp_path / "ocpp-cp1.json")
    with capture_logs() as logs:
        writer.write({"a": 1})
        with pytest.raises(ValueError, match="encoder"):
            await writer.written()
    assert [e["path"] for e in logs if e["log_level"] == "error"] == [str(writer.path)]
    assert not writer.path.exists()


def test_without_an_event_loop_a_writer_writes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "ocpp-cp1.json"
    JsonFileWriter(path, readable=False).write([1, None])
    assert path.read_text(encoding="utf-8") == "[1, null]"
