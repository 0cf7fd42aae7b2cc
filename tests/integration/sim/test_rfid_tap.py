"""A card tapped through the simulator's control API reaches a real pcscd + vpcd reader."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from edge_controller.config.settings import Settings
from edge_controller.drivers.pcsc.config import ReaderConfig
from edge_controller.sim.control_client import SimControlClient, SimControlError
from edge_controller.sim.rfid import READERS_ENV
from edge_controller.sim.site import running_site
from tests.integration.pcsc.helpers import collecting
from tests.integration.pcsc.pcscd import (
    Pcscd,
    cards_present,
    exclusive_pcscd,
    wait_cards_lifted,
)

pytestmark = pytest.mark.integration
UID = "04A1B2C3D4E5F6"


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def pcscd() -> Iterator[Pcscd]:
    with exclusive_pcscd() as daemon:
        yield daemon


@pytest.fixture
async def control(
    pcscd: Pcscd, make_site: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SimControlClient]:
    """The simulator with reader "entrance" on vpcd slot 0 and "nowhere" on a closed port."""
    wait_cards_lifted()
    monkeypatch.setenv(READERS_ENV, f"entrance={pcscd.port},nowhere=127.0.0.1:{_unused_port()}")
    async with running_site(make_site()) as sim, SimControlClient(sim.control_url) as client:
        yield client


async def test_tap_is_read_by_the_pcsc_reader_as_the_cards_uid(control: SimControlClient) -> None:
    config = ReaderConfig("entrance", "Virtual PCD 00 00", False, False, "none")
    async with collecting([config]) as collector:
        result = await control.tap("entrance", "04:a1:b2:c3:d4:e5:f6", hold_s=1.5)
        token = await collector.next()
    assert token.id_tag == UID
    assert token.reader_id == "entrance"
    assert result["uid"] == UID
    assert any(apdu.startswith("FFCA0000") for apdu in result["apdus"])


async def test_a_tap_held_past_the_clients_timeout_is_answered_once_lifted(
    control: SimControlClient,
) -> None:
    """The simulator answers a tap once the card is lifted: the client waits for the hold and
    the tap's other bounds besides its own timeout. Under only its own 5 s, the selftest test's
    5 s holds were answered when the exchange fitted in aiohttp's rounding of that timeout up to
    the next whole second, and a tap that did not left the selftest without a card."""
    async with SimControlClient(control.base_url, timeout_s=1.0) as client:
        result = await client.tap("entrance", UID, hold_s=1.5)
    assert (result["uid"], result["held_s"]) == (UID, 1.5)


async def test_tap_requests_are_checked(control: SimControlClient) -> None:
    with pytest.raises(SimControlError) as unknown:
        await control.tap("exit", UID)
    assert unknown.value.status == 404
    with pytest.raises(SimControlError) as bad_uid:
        await control.tap("entrance", "04A1B2")  # 3 bytes: no ISO 14443 UID
    assert bad_uid.value.status == 400
    with pytest.raises(SimControlError) as no_reader:
        await control.tap("nowhere", UID)
    assert no_reader.value.status == 503


async def _until_card_present() -> None:
    for _ in range(200):
        if await asyncio.to_thread(cards_present):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the first card never reached the reader")


async def test_a_second_card_on_a_busy_reader_is_refused(control: SimControlClient) -> None:
    async with asyncio.TaskGroup() as group:
        first = group.create_task(control.tap("entrance", UID, hold_s=4.0))
        await _until_card_present()
        with pytest.raises(SimControlError) as busy:
            await control.tap("entrance", "04AABBCC")
    assert busy.value.status == 409
    assert first.result()["uid"] == UID
