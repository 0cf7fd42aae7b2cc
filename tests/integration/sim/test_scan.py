"""`edge-controller scan` against the simulator: an RS-485 line (socat pty) with devices at
several unit ids and bauds, and a Modbus TCP address with unit ids behind it.

The simulator answers a unit on a pty line only when the scan's port is set to the baud that
unit listens at (``simulation.device_baud``), like a real line; parity cannot be told apart on
a pty (Linux ignores it), so a device answers at the first parity tried at its baud.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.api.server import STATUS_SOCKET, StatusServer
from edge_controller.app.hardware import open_hardware
from edge_controller.app.scan import daemon_scanner
from edge_controller.config.settings import Settings
from edge_controller.domain.snapshot import SiteView
from edge_controller.drivers.modbus.pdu import describe
from edge_controller.drivers.modbus.trace import read_trace
from edge_controller.sim.site import RunningSim, running_site
from tests.ports import free_port

pytestmark = pytest.mark.integration

READS = {1, 2, 3, 4}


def scan_site(tmp_path: Path) -> dict[str, Any]:
    """Two Heidelbergs at 19200 baud, an SDM630 and an EM24 at 9600 on one line; a CHARX, an
    SDM72D and a KEBA behind one TCP address."""
    return {
        "site": {"id": "scantest", "grid_limit_a": 63},
        "storage": {"state_dir": str(tmp_path / "state")},
        "buses": {
            "lan": {"type": "tcp", "host": "127.0.0.1", "port": free_port()},
            "rs485": {
                "type": "rtu",
                "device": str(tmp_path / "ttyRS"),
                "baud": 19200,
                "parity": "N",
            },
        },
        "chargers": {
            "keba": {"bus": "lan", "unit_id": 255, "profile": "keba_kecontact_p30"},
            "charx": {
                "bus": "lan",
                "unit_id": 7,
                "profile": "phoenix_charx_sec3xxx",
                "connectors": 2,
            },
            "hd1": {"bus": "rs485", "unit_id": 1, "profile": "heidelberg_energy_control"},
            "hd2": {"bus": "rs485", "unit_id": 4, "profile": "heidelberg_energy_control"},
        },
        "meters": {
            "grid": {"bus": "rs485", "unit_id": 9, "profile": "eastron_sdm630"},
            "sub": {
                "bus": "rs485",
                "unit_id": 11,
                "profile": "carlo_gavazzi_em24",
                "role": "connector",
                "connector": "hd1",
            },
            "lanmeter": {
                "bus": "lan",
                "unit_id": 3,
                "profile": "eastron_sdm72d",
                "role": "connector",
                "connector": "charx",
            },
        },
        "simulation": {"control_port": 0, "device_baud": {"grid": 9600, "sub": 9600}},
    }


def simulated(config: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(config))
    for section in ("chargers", "meters"):
        for device in out[section].values():
            device["simulated"] = True
    return out


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    return simulated(scan_site(tmp_path))


@pytest.fixture
def config_file(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
async def sim(config: dict[str, Any]) -> Any:
    async with running_site(Settings.model_validate(config)) as running:
        yield running


async def scan(config_file: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edge_controller",
        "scan",
        "--config",
        str(config_file),
        "--timeout-s",
        "0.1",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def found(report: dict[str, Any]) -> dict[int, tuple[str | None, int | None, str | None]]:
    return {
        d["unit"]: (d["profile"], d["line"]["baud"], d["confidence"]) for d in report["devices"]
    }


def write_counts(sim: RunningSim) -> dict[str, int]:
    return {
        device_id: sum(n for fc, n in device.requests.items() if fc not in READS)
        for device_id, device in sim.site.devices.items()
    }


def writes(sim: RunningSim) -> dict[str, set[int]]:
    return {
        device_id: set(device.requests) - READS
        for device_id, device in sim.site.devices.items()
        if set(device.requests) - READS
    }


async def test_auto_baud_finds_every_device_of_the_line_at_its_baud(
    sim: RunningSim, config_file: Path, tmp_path: Path
) -> None:
    trace = tmp_path / "scan.trace"
    code, out, err = await scan(
        config_file, "--bus", "rs485", "--units", "1-12", "--json", "--record", str(trace)
    )
    assert code == 0, err
    report = json.loads(out)
    assert found(report) == {
        1: ("heidelberg_energy_control", 19200, "high"),
        4: ("heidelberg_energy_control", 19200, "high"),
        9: ("eastron_sdm630", 9600, "high"),
        11: ("carlo_gavazzi_em24", 9600, "high"),
    }
    # The values it went by are the devices' own registers, as the simulator serves them.
    by_unit = {d["unit"]: d for d in report["devices"]}
    assert by_unit[1]["values"]["heidelberg_energy_control.layout_version"] == 0x0108
    assert by_unit[9]["values"]["eastron_sdm630.model_code"] == 112
    served = sim.site.meters["grid"].point_values(sim.clock())["voltage_l1"]
    assert by_unit[9]["values"]["eastron_sdm630.voltage_l1"] == pytest.approx(served, abs=0.01)
    # Progress on stderr, with the time left, ending at every probe done.
    assert "about" in err and "s left" in err
    total = 12 * len(report["lines"])
    assert f"{total}/{total} probes" in err
    assert writes(sim) == {}
    # Units found at one setting are not asked again at the next: 12 + 10 + 8 probes.
    assert report["probes"] == 12 + 10 + 8
    recorded = read_trace(trace)
    assert [h.baud for h in recorded.headers] == [19200, 9600, 19200]
    assert {e.request[0] for e in recorded.events} <= READS
    answered = {e.unit for e in recorded.events if e.outcome == "reply"}
    assert answered == {1, 4, 9, 11}


async def test_the_snippet_is_a_valid_config_for_what_was_found(
    sim: RunningSim, config_file: Path, tmp_path: Path
) -> None:
    code, out, err = await scan(config_file, "--bus", "rs485", "--units", "1-12", "--json")
    assert code == 0, err
    snippet = yaml.safe_load(json.loads(out)["snippet"])
    # Two devices at each baud: the first found setting is the bus's, the others commented.
    assert snippet["buses"]["rs485"]["baud"] == 19200
    assert {c["unit_id"]: c["profile"] for c in snippet["chargers"].values()} == {
        1: "heidelberg_energy_control",
        4: "heidelberg_energy_control",
    }
    assert "meters" not in snippet
    site = {"site": {"id": "fromscan", "grid_limit_a": 40}, "storage": {"state_dir": "x"}}
    Settings.model_validate(site | snippet)


async def test_a_fixed_baud_finds_only_the_devices_listening_there(
    sim: RunningSim, config_file: Path
) -> None:
    code, out, err = await scan(
        config_file, "--bus", "rs485", "--units", "1-12", "--baud", "9600", "--json"
    )
    assert code == 0, err
    assert found(json.loads(out)) == {
        9: ("eastron_sdm630", 9600, "high"),
        11: ("carlo_gavazzi_em24", 9600, "high"),
    }


async def test_unit_ids_behind_one_tcp_address(sim: RunningSim, config_file: Path) -> None:
    code, out, err = await scan(config_file, "--bus", "lan", "--units", "1-10,255")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("bus lan (tcp): 3 device(s) answered, 11 probes")
    assert "unit   3" in lines[1] and "Eastron SDM72D-M V2" in lines[1] and "high" in lines[1]
    assert "unit   7" in lines[2] and "CHARX" in lines[2] and "medium" in lines[2]
    assert "unit 255" in lines[3] and "KEBA" in lines[3] and "medium" in lines[3]
    snippet = yaml.safe_load(out.split("config snippet:\n", 1)[1])
    assert snippet["buses"]["lan"]["type"] == "tcp"
    assert sorted(c["unit_id"] for c in snippet["chargers"].values()) == [7, 255]
    assert writes(sim) == {}


async def test_a_unit_answering_exceptions_is_an_unknown_model(
    sim: RunningSim, config_file: Path
) -> None:
    sim.site.device("hd2").inject("exception", sim.clock(), code=2)
    code, out, err = await scan(config_file, "--bus", "rs485", "--units", "4", "--json")
    assert code == 0, err
    [device] = json.loads(out)["devices"]
    assert (device["unit"], device["profile"], device["model"]) == (4, None, "unknown model")
    assert device["replies"] and all(
        reply == f"Modbus exception 02 (illegal data address) to {describe(bytes.fromhex(asked))}"
        for asked, reply in device["replies"].items()
    )  # each names the registers it refused
    snippet = json.loads(out)["snippet"]
    assert "# unit 4: unknown model" in snippet


async def test_a_silent_line_reports_no_phantom_device(sim: RunningSim, config_file: Path) -> None:
    for device_id in ("hd1", "hd2", "grid", "sub"):
        sim.site.device(device_id).inject("no_answer", sim.clock())
    code, out, err = await scan(config_file, "--bus", "rs485", "--units", "1-6", "--quiet")
    assert code == 0, err
    assert out.startswith("bus rs485 (rtu): 0 device(s) answered")
    assert err == ""


async def test_a_port_that_cannot_be_opened_fails_with_the_reason(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    config["buses"]["rs485"]["device"] = str(tmp_path / "no-such-tty")
    path = tmp_path / "missing.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    code, _out, err = await scan(path, "--bus", "rs485", "--units", "1", "--quiet")
    assert code == 1
    assert "no-such-tty" in err


async def test_bad_arguments_exit_2(config_file: Path) -> None:
    code, _out, err = await scan(config_file, "--bus", "nope")
    assert code == 2 and "no bus 'nope'" in err
    code, _out, err = await scan(config_file, "--bus", "rs485", "--units", "300")
    assert code == 2 and "0..255" in err


async def test_through_the_running_daemons_bus(
    sim: RunningSim, config: dict[str, Any], config_file: Path, tmp_path: Path
) -> None:
    """With the daemon running, the scan goes through its open bus (its status socket), at the
    bus's own baud, between the daemon's own reads; the daemon keeps reading meanwhile and
    the probes leave no device behind in its views."""
    settings = Settings.model_validate(config)
    async with contextlib.AsyncExitStack() as stack:
        hw = await open_hardware(settings, stack)
        server = StatusServer(
            settings.storage.state_dir / STATUS_SOCKET,
            lambda: SiteView("scantest", None, 63.0, None, None),
            daemon_scanner(hw.buses, dict(settings.buses)),
        )
        reads: list[str] = []

        async def poll() -> None:  # the daemon's own traffic on the line
            while True:
                await hw.chargers["hd1:1"].read_status()
                reads.append("ok")
                await asyncio.sleep(0.05)

        tasks = [asyncio.create_task(server.run()), asyncio.create_task(poll())]
        await asyncio.sleep(0.5)
        try:
            before, written = len(reads), write_counts(sim)  # the daemon's start-up writes
            code, out, err = await scan(config_file, "--bus", "rs485", "--units", "1-12", "--json")
            during = len(reads) - before
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        views = {view.device_id for view in hw.buses["rs485"].views()}
    assert code == 0, err
    assert "the daemon owns bus rs485; scanning through it at 19200 8N1" in err
    # Only the devices listening at the bus's baud: the daemon's line setting is not changed.
    assert found(json.loads(out)) == {
        1: ("heidelberg_energy_control", 19200, "high"),
        4: ("heidelberg_energy_control", 19200, "high"),
    }
    assert during >= 5  # the daemon's reads went on during the scan
    assert views == {"hd1", "hd2", "grid", "sub"} & views and not any("unit" in v for v in views)
    assert write_counts(sim) == written  # the scan wrote nothing


async def test_the_demo_site_is_found_on_both_buses(tmp_path: Path) -> None:
    """config/demo.yaml (on free ports, its card terminal's too: a demo run beside it takes the
    default ones, and a private pty): every simulated device at its unit id with its model, the
    RTU line's at the right baud with auto, and nothing else."""
    demo_file = Path(__file__).parents[3] / "config" / "demo.yaml"
    demo = yaml.safe_load(demo_file.read_text(encoding="utf-8"))
    demo["buses"]["lan"]["port"] = free_port()
    demo["buses"]["rs485"]["device"] = str(tmp_path / "ttyDEMO")
    demo["storage"]["state_dir"] = str(tmp_path / "state")
    demo["simulation"]["control_port"] = 0
    demo["simulation"].pop("ev_script", None)
    for terminal in demo["payments"]["terminals"].values():  # the simulator serves them too
        terminal["port"] = free_port()
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(demo), encoding="utf-8")
    async with running_site(Settings.model_validate(demo)):
        code, out, err = await scan(path, "--bus", "rs485", "--units", "1-16", "--json")
        assert code == 0, err
        rtu = json.loads(out)
        code, out, err = await scan(path, "--bus", "lan", "--units", "1-16,255", "--json")
        assert code == 0, err
        lan = json.loads(out)
    baud = demo["buses"]["rs485"]["baud"]
    assert found(rtu) == {
        1: ("heidelberg_energy_control", baud, "high"),
        2: ("heidelberg_energy_control", baud, "high"),
        10: ("eastron_sdm630", baud, "high"),
    }
    assert found(lan) == {
        1: ("phoenix_charx_sec3xxx", None, "medium"),
        255: ("keba_kecontact_p30", None, "medium"),
    }
