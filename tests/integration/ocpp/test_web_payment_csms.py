"""The CSMS's side of web payment by QR code, against the schema-strict CSMS: 2.1
NotifyWebPaymentStarted holds the EVSE (a reservation of its own until the timeout) and the
RequestStartTransaction for it lifts the hold before starting; a 2.1 QRCODE display message
and a 1.6 CSMS's WebPaymentUrl key set the QR code a connector shows. Zero schema rejections."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import cast

from edge_controller.domain.commands import CancelReservation, Reserve, StartSession
from edge_controller.domain.model import Token
from edge_controller.domain.snapshot import Availability
from edge_controller.domain.web_payment import CodeSource, QrCodes, hold_id
from edge_controller.services.display_board import MessageBoard
from edge_controller.uplink.v201.web_payment import HOLDER
from edge_controller.web.display_model import Board, DisplaySetup, connector_model
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.sessions_site import CARD, live_site
from tests.integration.ocpp.strict_peer import strict_peer
from tests.integration.ocpp.test_v201_device_model import ask
from tests.integration.ocpp.test_v201_display_messages import station

CHARGERS = {"c1": 1, "c2": 1}
QR = QrCodes(
    {"c2:1": {"site": "s", "connector": "c2:1", "identity": IDENTITY, "evse": "2", "nonce": "n"}},
    "https://site.example/{connector}",
)


async def test_a_web_payment_holds_the_evse_until_the_paid_start(tmp_path: Path) -> None:
    board, site = MessageBoard(), FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c2:1", Availability.AVAILABLE)
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        station(tmp_path, outbox, "ocpp2.1", site, board) as (peer, _),
    ):
        before_s = time.time()
        assert await ask(peer, "NotifyWebPaymentStarted", {"evseId": 2, "timeout": 90}) == {}
        (reserve,) = [c for c in site.commands if isinstance(c, Reserve)]
        assert (reserve.connector_id, reserve.reservation_id, reserve.id_tag) == (
            "c2:1", hold_id("c2:1"), HOLDER,
        )  # fmt: skip
        assert before_s + 90 <= reserve.expiry_at_s <= time.time() + 90
        assert board.holds()["c2:1"].until_s == reserve.expiry_at_s
        site.set("c2:1", Availability.RESERVED, reservation_id=reserve.reservation_id)
        start = {"evseId": 2, "remoteStartId": 5, "idToken": {"idToken": "WEB1", "type": "Central"}}
        assert (await ask(peer, "RequestStartTransaction", start))["status"] == "Accepted"
        # The hold is lifted first, then the driver's start is decided.
        kinds = [type(c) for c in site.commands]
        assert kinds[-2:] == [CancelReservation, StartSession]
        assert site.commands[-2] == CancelReservation(hold_id("c2:1"))
        # An EVSE the station does not have holds nothing (the answer has no status).
        assert await ask(peer, "NotifyWebPaymentStarted", {"evseId": 9, "timeout": 90}) == {}
        assert len([c for c in site.commands if isinstance(c, Reserve)]) == 1


async def test_a_qrcode_message_sets_the_connectors_code(tmp_path: Path) -> None:
    board, site = MessageBoard(), FakeSite()
    site.set("c2:1", Availability.AVAILABLE)
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        station(tmp_path, outbox, "ocpp2.1", site, board) as (peer, _),
    ):
        before = QR.code("c2:1", board.messages(), board.templates())
        assert before is not None and before.source is CodeSource.CONFIG
        qr = {
            "id": 4,
            "priority": "NormalCycle",
            "display": {"name": "Display", "evse": {"id": 2}},
            "message": {"format": "QRCODE", "content": "https://csms.example/pay/77"},
        }
        assert (await ask(peer, "SetDisplayMessage", {"message": qr}))["status"] == "Accepted"
        code = QR.code("c2:1", board.messages(), board.templates())
        assert code is not None and code.url == "https://csms.example/pay/77"
        assert code.source is CodeSource.CSMS_MESSAGE


async def test_a_16_csms_sets_the_payment_url_template_by_its_key(tmp_path: Path) -> None:
    board = MessageBoard()
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        strict_peer() as peer,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}")
        async with running_uplink(
            settings, FakeSite(), outbox, tmp_path, CHARGERS, display=board
        ) as uplink:
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            change = {"key": "WebPaymentUrl", "value": "https://csms.example/{identity}/{evse}"}
            assert (await ask(peer, "ChangeConfiguration", change))["status"] == "Accepted"
            await wait_for(lambda: bool(board.templates()), timeout_s=5)
            code = QR.code("c2:1", (), board.templates())
            assert code is not None and code.url == f"https://csms.example/{IDENTITY}/2"
            assert code.source is CodeSource.CSMS_KEY
            wrong = {"key": "WebPaymentUrl", "value": "https://x/{card}"}
            assert (await ask(peer, "ChangeConfiguration", wrong))["status"] == "Rejected"
            cleared = {"key": "WebPaymentUrl", "value": ""}
            assert (await ask(peer, "ChangeConfiguration", cleared))["status"] == "Accepted"
            await wait_for(lambda: not board.templates(), timeout_s=5)
        assert peer.invalid() == []


async def test_the_held_evse_refuses_a_card_and_takes_the_paid_start(tmp_path: Path) -> None:
    """With the real session side: the hold is a reservation no card matches, so a card
    on the local list is refused there while the other EVSE takes it; the CSMS's paid start
    lifts the hold and the driver's session starts when the EV plugs in."""
    board = MessageBoard()
    async with (
        live_site(tmp_path) as (site, outbox),
        strict_peer(protocols="ocpp2.1") as peer,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version="2.1")
        async with running_uplink(
            settings, cast(FakeSite, site), outbox, tmp_path, {"c1": 2}, display=board
        ) as uplink:
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            await ask(peer, "NotifyWebPaymentStarted", {"evseId": 1, "timeout": 120})
            await wait_for(lambda: site.shown("c1:1").reservation_id == hold_id("c1:1"))
            assert site.shown("c1:1").availability is Availability.RESERVED
            assert not (await site.manager.on_token(Token(CARD), "c1:1")).accepted
            assert site.shown("c1:1").session_id is None
            start = {"evseId": 1, "remoteStartId": 9,
                     "idToken": {"idToken": "WEB77", "type": "Central"}}  # fmt: skip
            assert (await ask(peer, "RequestStartTransaction", start))["status"] == "Accepted"
            assert hold_id("c1:1") not in site.reservation_ids()
            await site.plug("c1:1")
            await wait_for(lambda: site.shown("c1:1").session_id is not None)
            assert site.shown("c1:1").id_tag == "WEB77"
        assert peer.invalid() == []


async def test_a_restart_keeps_the_hold_shown_as_a_web_payment(tmp_path: Path) -> None:
    """The hold's details are kept with the identity's state: after a restart the held
    connector still says "web payment in progress", until the hold's own time (the reservation
    itself the session side keeps); a hold over by then is dropped."""
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    site.set("c2:1", Availability.AVAILABLE)
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        board = MessageBoard()
        async with station(tmp_path, outbox, "ocpp2.1", site, board) as (peer, _):
            assert await ask(peer, "NotifyWebPaymentStarted", {"evseId": 2, "timeout": 90}) == {}
            assert await ask(peer, "NotifyWebPaymentStarted", {"evseId": 1, "timeout": 1}) == {}
            held = board.holds()["c2:1"]
        site.set("c2:1", Availability.RESERVED, reservation_id=held.reservation_id)
        await asyncio.sleep(1.1)  # the 1 s hold of c1:1 is over

        again = MessageBoard()
        async with station(tmp_path, outbox, "ocpp2.1", site, again) as (peer, _):
            assert again.holds() == {"c2:1": held}
            card = connector_model(
                site.views["c2:1"], DisplaySetup("s", qr=QR), "en", time.time(),
                board=Board(holds=again.holds()),
            )  # fmt: skip
            assert card["detail_text"] == "Held for a driver paying on the web"
            assert card["paying_until_s"] == held.until_s
            start = {"evseId": 2, "remoteStartId": 6,
                     "idToken": {"idToken": "WEB2", "type": "Central"}}  # fmt: skip
            assert (await ask(peer, "RequestStartTransaction", start))["status"] == "Accepted"
            assert site.commands[-2] == CancelReservation(held.reservation_id)

        last = MessageBoard()
        async with station(tmp_path, outbox, "ocpp2.1", site, last):
            assert last.holds() == {}  # the paid start lifted it: not kept either
