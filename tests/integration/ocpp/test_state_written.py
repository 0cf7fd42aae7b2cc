"""A setting the CSMS changes is written off the event loop, and the CSMS hears Accepted only
once it is on disk: a power cut after the answer keeps what was answered."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from ocpp.exceptions import InternalError

from edge_controller.sim.csms import BenchCsms
from edge_controller.uplink import json_file
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.integration


async def test_change_configuration_is_answered_once_the_file_is_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = json_file._write_text
    loop_thread = threading.get_ident()
    writers: list[int] = []

    def slow_disk(path: Path, text: str) -> None:
        writers.append(threading.get_ident())
        time.sleep(0.3)  # a slow flush: the answer must wait for it, the event loop need not
        write(path, text)

    monkeypatch.setattr(json_file, "_write_text", slow_disk)
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: uplink.online)
            for value in ("15", "30"):
                change = {"key": "MeterValueSampleInterval", "value": value}
                assert await csms.send("site1", "ChangeConfiguration", change) == {
                    "status": "Accepted"
                }
                stored = json.loads((tmp_path / "ocpp-site1.json").read_text(encoding="utf-8"))
                assert stored["configuration"]["MeterValueSampleInterval"] == value
    assert writers and loop_thread not in writers


async def test_a_failed_write_nobody_answered_for_fails_no_later_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change no CALL answers for (here a connector set inoperative by the site) could not
    be written: a later CALL is answered as its own handler's changes are, not refused for
    that one after its handler already acted."""
    write = json_file._write_text
    disk_full: list[bool] = [False]
    failed: list[str] = []

    def disk(path: Path, text: str) -> None:
        if disk_full[0]:
            failed.append(text)
            raise OSError(28, "No space left on device")
        write(path, text)

    monkeypatch.setattr(json_file, "_write_text", disk)
    csms = BenchCsms()
    state = tmp_path / "ocpp-site1.json"
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: uplink.online)
            disk_full[0] = True
            uplink.links["site1"].config.set_operative(1, False)
            await wait_for(lambda: bool(failed))
            asked = {"key": ["MeterValueSampleInterval"]}
            answer = await csms.send("site1", "GetConfiguration", asked)
            assert [k["key"] for k in answer["configurationKey"]] == asked["key"]
            change = {"key": "MeterValueSampleInterval", "value": "15"}
            with pytest.raises(InternalError):  # its own change is not on disk
                await csms.send("site1", "ChangeConfiguration", change)
            disk_full[0] = False
            change = {"key": "MeterValueSampleInterval", "value": "30"}
            assert await csms.send("site1", "ChangeConfiguration", change) == {"status": "Accepted"}
            stored = json.loads(state.read_text(encoding="utf-8"))
            assert stored["configuration"]["MeterValueSampleInterval"] == "30"
            assert stored["inoperative"] == [1]  # the newest content carries the earlier change
    assert len(failed) == 2
