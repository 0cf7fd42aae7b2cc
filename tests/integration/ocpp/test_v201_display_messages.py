"""OCPP 2.x display messages (test-case group O) against the schema-strict CSMS in 2.0.1 and
2.1 mode: set, replace, get in NotifyDisplayMessages parts, clear; every refusal status; a
message bound to a transaction ends with its session and one past its end is removed; the
messages survive a restart. What the site's display board holds is checked beside each
answer (it is what the display page and MQTT show). Zero schema rejections."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.display_messages import MessageState, Priority
from edge_controller.domain.snapshot import Availability
from edge_controller.services.display_board import MessageBoard
from edge_controller.storage.outbox import Outbox
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.service import OcppUplink
from edge_controller.uplink.v201.display import PER_NOTIFY
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.integration.ocpp.test_v201_device_model import ask, get, item

pytestmark = pytest.mark.integration
VERSIONS = [("2.0.1", "ocpp2.0.1"), ("2.1", "ocpp2.1")]
CHARGERS = {"c1": 1, "c2": 1}


@asynccontextmanager
async def station(
    tmp_path: Path, outbox: Outbox, protocol: str, site: FakeSite, board: MessageBoard
) -> AsyncIterator[tuple[StrictPeer, OcppUplink]]:
    version = protocol.removeprefix("ocpp")
    async with strict_peer(protocols=protocol) as peer:
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(
            settings, site, outbox, tmp_path, CHARGERS, display=board
        ) as uplink:
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            yield peer, uplink
        assert peer.invalid() == []


def message(message_id: int, text: str, priority: str = "NormalCycle", **more: Any) -> dict:
    content = {"format": more.pop("format", "UTF8"), "content": text}
    if "language" in more:
        content["language"] = more.pop("language")
    found: dict[str, Any] = {"id": message_id, "priority": priority, "message": content}
    if "evse" in more:
        found["display"] = {"name": "Display", "evse": {"id": more.pop("evse")}}
    return found | more


async def set_message(peer: StrictPeer, info: dict[str, Any]) -> str:
    result = await ask(peer, "SetDisplayMessage", {"message": info})
    return str(result["status"])


def on_board(board: MessageBoard) -> dict[int, tuple[str, tuple[str, ...]]]:
    return {m.message_id: (m.content, m.connectors) for m in board.messages()}


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_O01_O06_set_replace_refuse_and_keep_across_a_restart(
    tmp_path: Path, version: str, protocol: str
) -> None:
    board = MessageBoard()
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        station(tmp_path, outbox, protocol, FakeSite(), board) as (peer, _),
    ):
        # O01: station-wide and per EVSE, each with the right connectors on the board.
        assert await set_message(peer, message(1, "Welcome", language="en")) == "Accepted"
        assert await set_message(peer, message(2, "Bay 1 only", "InFront", evse=1,
                                               state="Idle")) == "Accepted"  # fmt: skip
        assert on_board(board) == {
            1: ("Welcome", ("c1:1", "c2:1")),
            2: ("Bay 1 only", ("c1:1",)),
        }
        # O06: the same id again replaces the message.
        assert await set_message(peer, message(1, "Welcome back", "AlwaysFront")) == "Accepted"
        assert on_board(board)[1] == ("Welcome back", ("c1:1", "c2:1"))
        (replaced,) = [m for m in board.messages() if m.message_id == 1]
        assert replaced.priority is Priority.ALWAYS_FRONT and replaced.language is None
        # What the station cannot do is refused, each with its own status; nothing is kept.
        start, end = to_iso(time.time() + 60), to_iso(time.time() + 30)
        refused = [
            (message(3, "<b>x</b>", format="HTML"), "NotSupportedMessageFormat"),
            (message(3, "x", evse=9), "Rejected"),
            (message(3, "x", transactionId="77-1700000000000"), "UnknownTransaction"),
            (message(3, "x", startDateTime=start, endDateTime=end), "Rejected"),
        ]
        if version == "2.1":
            refused.append((message(3, "x", state="Discharging"), "NotSupportedState"))
            # 2.1: the same message in other languages comes with it.
            extra = [{"format": "UTF8", "language": "de", "content": "Willkommen"}]
            translated = message(7, "Welcome", language="en", messageExtra=extra)
            assert await set_message(peer, translated) == "Accepted"
            (kept,) = [m for m in board.messages() if m.message_id == 7]
            assert kept.translations == (("de", "Willkommen"),)
            assert (await ask(peer, "ClearDisplayMessage", {"id": 7}))["status"] == "Accepted"
        for info, status in refused:
            assert await set_message(peer, info) == status, info
        assert sorted(on_board(board)) == [1, 2]
        # The device model tells what is supported and how many are kept.
        formats = "ASCII,URI,UTF8" + (",QRCODE" if version == "2.1" else "")
        assert await get(
            peer,
            item("DisplayMessageCtrlr", "DisplayMessages"),
            item("DisplayMessageCtrlr", "SupportedFormats"),
            item("DisplayMessageCtrlr", "SupportedPriorities"),
            item("DisplayMessageCtrlr", "Available"),
        ) == [
            ("Accepted", "2"),
            ("Accepted", formats),
            ("Accepted", "AlwaysFront,InFront,NormalCycle"),
            ("Accepted", "true"),
        ]
    # A restart: the file keeps them, the new board gets them before any CSMS connects.
    board = MessageBoard()
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        station(tmp_path, outbox, protocol, FakeSite(), board) as (peer, _),
    ):
        assert on_board(board) == {
            1: ("Welcome back", ("c1:1", "c2:1")),
            2: ("Bay 1 only", ("c1:1",)),
        }
        # O05: clear one; clearing it again is Unknown.
        assert (await ask(peer, "ClearDisplayMessage", {"id": 2}))["status"] == "Accepted"
        assert (await ask(peer, "ClearDisplayMessage", {"id": 2}))["status"] == "Unknown"
        assert sorted(on_board(board)) == [1]


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_O03_O04_get_messages_in_parts_and_by_filter(
    tmp_path: Path, version: str, protocol: str
) -> None:
    board = MessageBoard()
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        station(tmp_path, outbox, protocol, FakeSite(), board) as (peer, _),
    ):
        count = PER_NOTIFY + 3
        for n in range(1, count + 1):
            priority = "InFront" if n % 4 == 0 else "NormalCycle"
            state = {"state": "Charging"} if n == 5 else {}
            assert await set_message(peer, message(n, f"m{n}", priority, **state)) == "Accepted"
        # O03: all of them, in two parts (tbc on the first), in the order they were set.
        result = await ask(peer, "GetDisplayMessages", {"requestId": 7})
        assert result["status"] == "Accepted"
        await wait_for(lambda: len(peer.calls("NotifyDisplayMessages")) == 2)
        parts = [c["params"] for c in peer.calls("NotifyDisplayMessages")]
        assert [p["requestId"] for p in parts] == [7, 7]
        assert [p["tbc"] for p in parts] == [True, False]
        ids = [m["id"] for p in parts for m in p["messageInfo"]]
        assert ids == list(range(1, count + 1))
        assert parts[0]["messageInfo"][0]["message"] == {"format": "UTF8", "content": "m1"}
        # O04: by priority, by id, by state; nothing matching is Unknown (nothing sent).
        for query, wanted in [
            ({"priority": "InFront"}, [4, 8]),
            ({"id": [3, 5, 99]}, [3, 5]),
            ({"state": "Charging"}, [5]),
        ]:
            sent = len(peer.calls("NotifyDisplayMessages"))
            result = await ask(peer, "GetDisplayMessages", {"requestId": 8, **query})
            assert result["status"] == "Accepted"
            await wait_for(lambda n=sent: len(peer.calls("NotifyDisplayMessages")) == n + 1)
            last = peer.calls("NotifyDisplayMessages")[-1]["params"]
            assert [m["id"] for m in last["messageInfo"]] == wanted, query
        result = await ask(peer, "GetDisplayMessages", {"requestId": 9, "id": [99]})
        assert result["status"] == "Unknown"


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_O02_a_transaction_message_ends_with_its_session_and_windows_close(
    tmp_path: Path, version: str, protocol: str
) -> None:
    board, site = MessageBoard(), FakeSite()
    site.set("c1:1", Availability.CHARGING, session_id="5")
    site.set("c2:1", Availability.AVAILABLE)
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        station(tmp_path, outbox, protocol, site, board) as (peer, uplink),
    ):
        bound = message(1, "Your session", "InFront", transactionId="5-1767225600000",
                        state="Charging")  # fmt: skip
        assert await set_message(peer, bound) == "Accepted"
        (kept,) = board.messages()
        assert kept.connectors == ("c1:1",) and kept.session_id == "5"
        assert kept.state is MessageState.CHARGING
        # A window that closes in a moment (CSMS clock: the offset from its boot answer).
        offset_s = uplink.links[IDENTITY].clock.offset_s
        end = to_iso(time.time() + offset_s + 1.5)
        assert await set_message(peer, message(2, "Soon over", endDateTime=end)) == "Accepted"
        await wait_for(lambda: sorted(on_board(board)) == [1], timeout_s=5)
        # The session ends: its message goes, from the board and from the station.
        site.set("c1:1", Availability.FINISHING, session_id=None)
        await wait_for(lambda: on_board(board) == {}, timeout_s=5)
        result = await ask(peer, "GetDisplayMessages", {"requestId": 1})
        assert result["status"] == "Unknown"
