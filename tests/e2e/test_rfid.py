"""RFID through the real daemon: a card on a vpcd reader, the local list, a simulated EV."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.integration.pcsc.pcscd import Pcscd, wait_cards_lifted
from tests.integration.pcsc.vcard import VirtualCard

# The timeout covers waiting for the machine's one pcscd, which other test runs may hold.
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(400)]

CARD_A = bytes.fromhex("04A1B2C3D4E5F6")  # on the local list
CARD_B = bytes.fromhex("04B2C3D4")  # on the local list
STRANGER = bytes.fromhex("08DEAD01")  # not on the list
DOOR, GATE = "door", "gate"  # readers on vpcd slot 0 (hd1:1) and slot 1 (keba:1)
QUIET_S = 3.0  # after a refused tap: long enough for a wrongly started session to show


async def preload_local_list(db_path: Path, cards: list[bytes]) -> None:
    """The local authorization list as the CSMS would have sent it, before the daemon starts."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db = await Database.open(db_path)
    try:
        entries = [AuthEntry(card.hex().upper(), AuthStatus.ACCEPTED) for card in cards]
        await AuthStore(db).replace_local_list(1, entries)
    finally:
        await db.close()


async def taps(site: E2ESite, reader_id: str) -> int:
    view = await site.status()
    return next(d.requests for d in view.devices if d.device_id == reader_id)


async def tap(site: E2ESite, port: int, reader_id: str, uid: bytes) -> None:
    """Hold a card on the reader until the daemon has read it, then lift it."""
    before = await taps(site, reader_id)
    with VirtualCard(port, uid):

        async def read() -> bool:
            return await taps(site, reader_id) > before

        await eventually(read, f"tap on {reader_id} read")
    await asyncio.to_thread(wait_cards_lifted)


def session_tags(site: E2ESite) -> dict[str, str]:
    rows = site.query("SELECT connector_id, id_tag FROM sessions WHERE stop_at_s IS NULL")
    return dict(rows)


async def wait_charging_with(site: E2ESite, connector_id: str, id_tag: str) -> None:
    async def check() -> bool:
        state = (await site.state())["connectors"][connector_id]["state"]
        return session_tags(site).get(connector_id) == id_tag and state == "C"

    await eventually(check, f"{connector_id} charging in a session of {id_tag}")


async def test_cards_on_the_local_list_start_sessions_strangers_do_not(
    launch: Launch, config: dict[str, Any], pcscd: Pcscd
) -> None:
    config["ocpp"]["authorization"].pop("free_vend_id_tag")
    config["readers"] = {
        DOOR: {"name_pattern": "^Virtual PCD 00 00$", "connectors": ["hd1:1"]},
        GATE: {"name_pattern": "^Virtual PCD 00 01$", "connectors": ["keba:1"]},
    }
    await preload_local_list(Path(config["storage"]["state_dir"]) / "edge.db", [CARD_A, CARD_B])
    site = await launch(config)
    door_port, gate_port = pcscd.slot_ports

    async def readers_up() -> bool:
        devices = {d.device_id: d.available for d in (await site.status()).devices}
        return devices.get(DOOR) is True and devices.get(GATE) is True

    await eventually(readers_up, "both readers available")

    # Plug first, then a stranger's card: refused, the EV waits.
    await site.control.plug("hd1:1", profile="car3")
    await tap(site, door_port, DOOR, STRANGER)
    await asyncio.sleep(QUIET_S)
    assert "hd1:1" not in session_tags(site)
    assert (await site.state())["connectors"]["hd1:1"]["state"] == "B"

    # Then a listed card on the same reader: the session starts and the EV charges.
    await tap(site, door_port, DOOR, CARD_A)
    await wait_charging_with(site, "hd1:1", CARD_A.hex().upper())

    # Tap first, then plug: the waiting authorisation is used by the plug-in.
    await tap(site, gate_port, GATE, CARD_B)
    await site.control.plug("keba:1", profile="car3")
    await wait_charging_with(site, "keba:1", CARD_B.hex().upper())

    rows = site.query("SELECT id_tag FROM sessions ORDER BY local_id")
    assert rows == [(CARD_A.hex().upper(),), (CARD_B.hex().upper(),)]
