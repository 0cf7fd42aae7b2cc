"""`edge-controller selftest` on the demo site itself (config/demo.yaml, unchanged but for its
ports and paths): the simulator serves its devices, a real Mosquitto, pcscd with the vpcd
virtual reader and the bench CSMS run; every item passes or says why it is skipped."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.config.settings import Settings
from edge_controller.sim.control_client import SimControlClient
from edge_controller.sim.csms import serve_csms
from edge_controller.sim.rfid import READERS_ENV
from edge_controller.sim.site import RunningSim, running_site
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.pcsc.pcscd import Pcscd, exclusive_pcscd
from tests.ports import free_port

from .test_selftest import run_cli

pytestmark = pytest.mark.integration
DEMO = Path(__file__).parents[3] / "config" / "demo.yaml"
# The items the demo site cannot prove without a person or an EV, and the reason each gives.
EXPECTED_SKIPS = {
    "reader entrance reads a test card": "needs a person to tap: run with --tap-card",
    "grid meter phases": "no EV is charging: plug one in to test",
    "charger charx watchdog programmed as configured": (
        "profile phoenix_charx_sec3xxx has no watchdog registers"
    ),
}


@pytest.fixture
def pcscd() -> Iterator[Pcscd]:
    with exclusive_pcscd() as daemon:
        yield daemon


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    mosquitto = Mosquitto(workdir)
    mosquitto.start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


@pytest.fixture
def demo(tmp_path: Path, broker: Mosquitto) -> dict[str, Any]:
    """config/demo.yaml with free ports and temp paths, and the broker's credentials."""
    config: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    config["buses"]["lan"]["port"] = free_port()
    config["buses"]["rs485"]["device"] = str(tmp_path / "ttyDEMO")
    config["storage"]["state_dir"] = str(tmp_path / "state")
    config["ocpp"]["url"] = f"ws://127.0.0.1:{free_port()}"
    config["mqtt"].update(
        port=broker.port, username="edge", password_file=str(broker.edge_password_file)
    )
    config["simulation"]["control_port"] = 0
    config["web"]["port"] = free_port()
    for terminal in config["payments"]["terminals"].values():  # a demo run beside takes 20007
        terminal["port"] = free_port()
    return config


@pytest.fixture
async def csms(demo: dict[str, Any]) -> AsyncIterator[None]:
    port = int(demo["ocpp"]["url"].rsplit(":", 1)[1])
    task = asyncio.create_task(serve_csms("127.0.0.1", port))
    await asyncio.sleep(0.5)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def sim(
    demo: dict[str, Any], pcscd: Pcscd, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningSim]:
    monkeypatch.setenv(READERS_ENV, f"entrance={pcscd.port}")
    async with running_site(Settings.model_validate(demo)) as running:
        yield running


async def test_the_demo_site_passes_its_selftest(
    sim: RunningSim, csms: None, demo: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(demo), encoding="utf-8")
    report_path = tmp_path / "commissioning.html"
    code, out, err = await run_cli(path, "--report", str(report_path))
    assert code == 0, out + err
    data = json.loads(report_path.with_suffix(".json").read_text(encoding="utf-8"))
    items = {item["name"]: item for item in data["items"]}
    assert [i for i in items.values() if i["status"] == "fail"] == []
    assert (data["site"], data["passed"]) == ("demo-site", True)
    skips = {name: i["seen"] for name, i in items.items() if i["status"] == "skip"}
    assert skips == EXPECTED_SKIPS
    assert all(i["status"] in ("pass", "skip") for i in items.values())
    connectors = ("keba:1", "charx:1", "charx:2", "charx:3", "hd1:1", "hd2:1")
    for connector in connectors:
        assert items[f"charger {connector} answers"]["status"] == "pass"
        assert items[f"charger {connector} takes a setpoint and reads it back"]["status"] == "pass"
    for charger in ("keba", "hd1", "hd2"):
        watchdog = items[f"charger {charger} watchdog programmed as configured"]
        assert watchdog["seen"].endswith("(configured 6 A, 15 s)")
    assert items["meter grid answers with plausible values"]["status"] == "pass"
    assert items["reader entrance present"]["seen"] == "Virtual PCD 00 00"
    assert items[f"CSMS reachable ({demo['ocpp']['url']}, security profile 0)"]["status"] == "pass"
    assert items[f"MQTT broker reachable (127.0.0.1:{demo['mqtt']['port']})"]["seen"] == "connected"
    assert {"clock synchronised", "clock agrees with the CSMS", "disk has room"} <= set(items)
    # Left safe: every connector offers nothing after its setpoint test (0 A, or disabled
    # where the model's lowest setpoint is 6 A).
    for charger in ("keba", "charx", "hd1", "hd2"):
        for connector in sim.site.chargers[charger].model.connectors:
            offers = connector.enabled and connector.setpoint_a > 0
            assert not offers, (charger, connector)
    # The page shows every item of the JSON, with its result, name and value seen, nothing more.
    page = report_path.read_text(encoding="utf-8")
    for item in data["items"]:
        name, seen = html.escape(item["name"]), html.escape(item["seen"])
        row = f"<td>{item['status'].upper()}</td><td>{name}</td><td>{seen}</td>"
        assert row in page
    assert page.count("<tr class=") == len(data["items"])
    assert out.startswith("selftest of site demo-site: PASSED")
    assert out.count("\n  ") == len(data["items"])


async def tap_until(done: asyncio.Task[Any], sim: RunningSim, uid: str) -> None:
    """A person holding the test card on the reader until the selftest is over (cancelled then).
    Held 5 s at a time: lifted after 1 s, the card was at times gone before the selftest had
    read it on a loaded machine (SCardTransmit failed)."""
    async with SimControlClient(sim.control_url) as client:
        while not done.done():
            await client.tap("entrance", uid, hold_s=5.0)
            await asyncio.sleep(0.2)


async def test_a_tapped_test_card_is_read_and_shown_masked(
    sim: RunningSim, csms: None, demo: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(demo), encoding="utf-8")
    args = ("--json", "--tap-card", "--tap-timeout-s", "60")
    run = asyncio.create_task(run_cli(path, *args))
    tapping = asyncio.create_task(tap_until(run, sim, "04:a1:b2:c3:d4:e5:f6"))
    try:
        code, out, err = await asyncio.wait_for(run, 120)
    finally:
        tapping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tapping
    assert code == 0, out + err
    items = {item["name"]: item for item in json.loads(out)["items"]}
    card = items["reader entrance reads a test card"]
    assert (card["status"], card["seen"]) == ("pass", "card 04..F6 read")
    assert "04A1B2C3D4E5F6" not in out + err  # the whole UID is shown nowhere
    assert "tap a test card on reader entrance (Virtual PCD 00 00) within 60 s" in err


async def test_no_card_before_the_timeout_fails_with_the_hint(
    sim: RunningSim, csms: None, demo: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(demo), encoding="utf-8")
    code, out, err = await run_cli(path, "--json", "--tap-card", "--tap-timeout-s", "1.5")
    assert code == 1, out + err
    failed = [item for item in json.loads(out)["items"] if item["status"] == "fail"]
    assert [(f["name"], f["seen"], f["section"]) for f in failed] == [
        ("reader entrance reads a test card", "no card within 1.5 s", "Test card not read")
    ]
    assert "hold the card flat on the reader" in failed[0]["hint"]
