"""`edge-controller selftest` against the simulator and the bench CSMS: the site passes, and
each injected fault fails the item it concerns, with the README's fix.

The kernel clock of a test machine may not be synchronised; the in-process runs say so
explicitly (``synchronised``), so the clock item rests on the CSMS's clock as on a site
without a time service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.app.selftest import HINTS, Options, Report, run_selftest
from edge_controller.config.settings import Settings
from edge_controller.sim.csms import serve_csms
from edge_controller.sim.site import RunningSim, running_site
from tests.ports import free_port

pytestmark = pytest.mark.integration
README = Path(__file__).parents[3] / "README.md"


def site(tmp_path: Path, csms_port: int) -> dict[str, Any]:
    """A KEBA on L2L3L1 whose single-phase EV charges at once (power-up current), a Heidelberg
    and the grid meter on an RTU line, the bench CSMS."""
    return {
        "site": {"id": "selftest", "grid_limit_a": 63},
        "storage": {"state_dir": str(tmp_path / "state")},
        "buses": {
            "lan": {"type": "tcp", "host": "127.0.0.1", "port": free_port()},
            "rs485": {
                "type": "rtu",
                "device": str(tmp_path / "ttyST"),
                "baud": 19200,
                "parity": "N",
                "timeout_s": 0.3,
                "retries": 0,
            },
        },
        "chargers": {
            "keba": {
                "bus": "lan",
                "unit_id": 255,
                "profile": "keba_kecontact_p30",
                "phase_rotation": "L2L3L1",
                "simulated": True,
            },
            "hd1": {
                "bus": "rs485",
                "unit_id": 1,
                "profile": "heidelberg_energy_control",
                "max_current_a": 16,
                "simulated": True,
            },
        },
        "meters": {
            "grid": {"bus": "rs485", "unit_id": 10, "profile": "eastron_sdm630", "simulated": True}
        },
        "ocpp": {"enabled": True, "url": f"ws://127.0.0.1:{csms_port}", "identity": "st1"},
        "simulation": {
            "control_port": 0,
            "tick_s": 0.05,
            "startup_current_a": 10,
            "ev_profiles": {"one": {"phases": 1, "max_current_a": 16, "response_delay_s": 0}},
            "ev_script": [{"connector": "keba:1", "profile": "one", "arrive_s": 0}],
        },
    }


@pytest.fixture
def csms_port() -> int:
    return free_port()


@pytest.fixture
async def csms(csms_port: int) -> AsyncIterator[None]:
    task = asyncio.create_task(serve_csms("127.0.0.1", csms_port))
    await asyncio.sleep(0.5)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def config(tmp_path: Path, csms_port: int) -> dict[str, Any]:
    return site(tmp_path, csms_port)


@pytest.fixture
async def sim(config: dict[str, Any]) -> AsyncIterator[RunningSim]:
    async with running_site(Settings.model_validate(config)) as running:
        await asyncio.sleep(0.3)  # the scripted EV arrives and starts charging
        yield running


async def selftest(config: dict[str, Any], clock_offset_s: float = 0.0) -> Report:
    options = Options(settle_s=1.0, clock=lambda: time.time() + clock_offset_s)
    return await run_selftest(Settings.model_validate(config), options, lambda: False)


def by_name(report: Report) -> dict[str, Any]:
    return {item.name: item for item in report.items}


def failures(report: Report) -> dict[str, str]:
    return {item.name: item.section for item in report.items if item.status == "fail"}


def test_every_hint_points_at_a_troubleshooting_section_of_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    for section, _fix in HINTS.values():
        assert f"**{section}.**" in text


async def test_the_site_passes(sim: RunningSim, csms: None, config: dict[str, Any]) -> None:
    report = await selftest(config)
    assert failures(report) == {}
    items = by_name(report)
    assert items["charger keba:1 answers"].seen.startswith("state C")
    assert items["charger hd1:1 takes a setpoint and reads it back"].status == "pass"
    # Written and read back through the simulator's registers; then left at 0 A.
    assert sim.site.chargers["hd1"].last_writes[("set_current", 1)].value == 0.0
    phases = items["charger keba:1 phases match the grid meter"]
    assert (phases.status, phases.seen) == (
        "pass",
        "pausing it lowered grid L2; phase_rotation L2L3L1 says L2",
    )
    # The EV was given its current back after the pause.
    assert sim.site.chargers["keba"].model.connector(1).setpoint_a >= 6
    assert items["charger keba:1 takes a setpoint and reads it back"].status == "skip"
    assert items["clock synchronised"].status == "pass"
    assert report.ok


async def test_a_silent_charger(sim: RunningSim, csms: None, config: dict[str, Any]) -> None:
    sim.site.device("hd1").inject("no_answer", sim.clock())
    report = await selftest(config)
    assert failures(report) == {"charger hd1:1 answers": "Bus timeouts"}
    assert "no answer" in by_name(report)["charger hd1:1 answers"].seen


async def test_a_wrong_unit_id(sim: RunningSim, csms: None, config: dict[str, Any]) -> None:
    config["meters"]["grid"]["unit_id"] = 11
    report = await selftest(config)
    assert failures(report) == {"meter grid answers with plausible values": "Bus timeouts"}
    assert "unit id" in by_name(report)["meter grid answers with plausible values"].hint


async def test_a_charger_that_does_not_keep_its_setpoint(
    sim: RunningSim, csms: None, config: dict[str, Any]
) -> None:
    sim.site.device("hd1").inject("stuck", sim.clock(), point="set_current")
    report = await selftest(config)
    name = "charger hd1:1 takes a setpoint and reads it back"
    assert failures(report) == {name: "Charger does not take setpoints"}
    # The simulator echoes the register as it stays (10 A, its power-up current).
    assert by_name(report)[name].seen == (
        "writing 6 A: hd1: bad reply: write reply does not echo the request"
    )


async def test_a_watchdog_that_does_not_keep_its_timeout(
    sim: RunningSim, csms: None, config: dict[str, Any]
) -> None:
    sim.site.device("hd1").inject("stuck", sim.clock(), point="failsafe_timeout")
    config["chargers"]["hd1"]["failsafe_timeout_s"] = 30
    report = await selftest(config)
    name = "charger hd1 watchdog programmed as configured"
    assert failures(report) == {name: "Charger watchdog not as configured"}
    assert by_name(report)[name].seen.startswith("programming 6 A, 30 s: hd1: bad reply")


async def test_swapped_phases(sim: RunningSim, csms: None, config: dict[str, Any]) -> None:
    config["chargers"]["keba"]["phase_rotation"] = "L1L2L3"
    report = await selftest(config)
    name = "charger keba:1 phases match the grid meter"
    assert failures(report) == {name: "Phase rotation"}
    assert by_name(report)[name].seen == (
        "pausing it lowered grid L2; phase_rotation L1L2L3 says L1"
    )


async def test_a_missing_reader(sim: RunningSim, csms: None, config: dict[str, Any]) -> None:
    config["readers"] = {"door": {"name_pattern": "^No Such Reader 9$", "connectors": ["hd1:1"]}}
    report = await selftest(config)
    assert failures(report) == {"reader door present": "Card reader missing"}


async def test_the_csms_down(sim: RunningSim, config: dict[str, Any]) -> None:
    report = await selftest(config)
    name = f"CSMS reachable ({config['ocpp']['url']}, security profile 0)"
    # Without the CSMS's clock and without a time service nothing vouches for the clock.
    assert failures(report) == {
        name: "OCPP connection refused",
        "clock synchronised": "Clock not synchronised",
    }
    assert by_name(report)[name].seen.startswith("cannot connect")


async def test_a_clock_ten_minutes_off(sim: RunningSim, csms: None, config: dict[str, Any]) -> None:
    report = await selftest(config, clock_offset_s=600)
    assert failures(report) == {
        "clock agrees with the CSMS": "Clock not synchronised",
        "clock synchronised": "Clock not synchronised",
    }
    seen = by_name(report)["clock agrees with the CSMS"].seen
    assert re.fullmatch(r"our clock is \+(599|600|601) s from the CSMS's", seen)


async def test_an_unreachable_broker(sim: RunningSim, csms: None, config: dict[str, Any]) -> None:
    port = free_port()
    config["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": port}
    report = await selftest(config)
    name = f"MQTT broker reachable (127.0.0.1:{port})"
    assert failures(report) == {name: "MQTT broker unreachable"}


async def test_the_command_writes_the_report_and_exits_by_it(
    sim: RunningSim, csms: None, config: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    report_path = tmp_path / "commissioning.html"
    code, out, err = await run_cli(path, "--report", str(report_path))
    assert code == 0, out + err
    data = json.loads(report_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["passed"] is True and data["site"] == "selftest"
    page = report_path.read_text(encoding="utf-8")
    # Every item of the JSON is a row of the page, with its result and value seen.
    for item in data["items"]:
        assert f"<td>{item['status'].upper()}</td><td>{item['name']}</td>" in page
    assert out.startswith("selftest of site selftest: PASSED")

    sim.site.device("hd1").inject("no_answer", sim.clock())
    code, out, _err = await run_cli(path, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["passed"] is False
    [failed] = [i for i in data["items"] if i["status"] == "fail"]
    assert (failed["name"], failed["section"]) == ("charger hd1:1 answers", "Bus timeouts")


async def run_cli(config_file: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edge_controller",
        "selftest",
        "--config",
        str(config_file),
        "--settle-s",
        "1",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
