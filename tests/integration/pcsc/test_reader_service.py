"""ReaderService over the real PC/SC stack: taps from pcscd routed to connectors."""

from __future__ import annotations

import asyncio

import pytest

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.authorization import AuthDecision, AuthStatus
from edge_controller.drivers.pcsc.config import ReaderConfig
from edge_controller.drivers.pcsc.feedback import acr122_signal_apdu
from edge_controller.drivers.pcsc.reader import PcscTokenReader
from edge_controller.services.readers import PendingTaps, ReaderRoute, ReaderService
from tests.integration.pcsc.helpers import WAIT_S, readers_available, wait_until
from tests.integration.pcsc.pcscd import Pcscd
from tests.integration.pcsc.vcard import VirtualCard

pytestmark = pytest.mark.integration


async def test_taps_reach_the_session_layer_routed(running_pcscd: Pcscd) -> None:
    reader = PcscTokenReader(
        [
            ReaderConfig("door", "Virtual PCD 00 00", feedback="acr122"),
            ReaderConfig("shared", "Virtual PCD 00 01"),
        ]
    )
    routes = {"door": ReaderRoute(("c1:1",)), "shared": ReaderRoute(("c2:1", "c2:2"))}
    seen: asyncio.Queue[tuple[Token, str | None]] = asyncio.Queue()

    async def on_token(token: Token, connector_id: str | None) -> AuthDecision:
        seen.put_nowait((token, connector_id))
        return AuthDecision(False, token.id_tag, "not on the list", AuthStatus.INVALID)

    door_feedback = reader.feedback("door")
    assert door_feedback is not None
    taps = PendingTaps(routes)
    service = ReaderService([reader], taps, on_token, feedback={"door": door_feedback})
    port0, port1 = running_pcscd.slot_ports
    async with asyncio.TaskGroup() as group:
        task = group.create_task(service.run())
        ids = ["door", "shared"]
        await wait_until(lambda: all(readers_available(reader, ids).values()), "readers")
        with VirtualCard(port0, bytes.fromhex("04A1B2C3")) as card:
            door_token, door_connector = await asyncio.wait_for(seen.get(), WAIT_S)
            rejected = acr122_signal_apdu(accepted=False)
            await wait_until(lambda: rejected in card.apdus, "rejection signalled")
        with VirtualCard(port1, bytes.fromhex("04D5E6F7")):
            shared_token, shared_connector = await asyncio.wait_for(seen.get(), WAIT_S)
        claimed = taps.claim_for_plug("c2:2")
        task.cancel()
    assert (door_token.id_tag, door_connector) == ("04A1B2C3", "c1:1")
    assert (shared_token.id_tag, shared_connector) == ("04D5E6F7", None)
    assert claimed == shared_token
