"""The OCPP-J RPC endpoint over a real websocket, for each OCPP version: the subprotocol chosen
in the handshake decides the schemas and how each error is spelt; one CALL in flight, its
timeout, and a connection lost while it waits."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from edge_controller.uplink.dialect import OCPP16, OCPP21
from edge_controller.uplink.rpc import (
    AnswerRefused,
    CallFailed,
    ConnectionLost,
    Limits,
    RpcEndpoint,
)

pytestmark = pytest.mark.integration

SUBPROTOCOLS = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
RESET = {"ocpp1.6": {"type": "Soft"}, "ocpp2.0.1": {"type": "Immediate"}}
RESET["ocpp2.1"] = RESET["ocpp2.0.1"]
LIMITS = Limits(call_timeout_s=1.0, max_frame_bytes=4096)


@dataclass
class Peer:
    """The other end: sends raw frames, keeps what it receives."""

    received: asyncio.Queue[list[Any]] = field(default_factory=asyncio.Queue)
    connection: ServerConnection | None = None

    async def serve(self, connection: ServerConnection) -> None:
        self.connection = connection
        async for raw in connection:
            await self.received.put(json.loads(raw))

    async def send(self, frame: str) -> None:
        assert self.connection is not None
        await self.connection.send(frame)

    async def next(self, timeout_s: float = 5.0) -> list[Any]:
        return await asyncio.wait_for(self.received.get(), timeout_s)


@dataclass
class Ends:
    peer: Peer
    endpoint: RpcEndpoint
    sends: list[dict[str, Any]]  # SENDs handed to their handler
    answered: asyncio.Queue[None]  # one entry per incoming CALL answered (or failed to be)
    reader: asyncio.Task[None]


@asynccontextmanager
async def linked(subprotocol: str) -> AsyncIterator[Ends]:
    peer = Peer()
    server = await serve(peer.serve, "127.0.0.1", 0, subprotocols=SUBPROTOCOLS)  # type: ignore[arg-type]
    port = next(iter(server.sockets)).getsockname()[1]
    sends: list[dict[str, Any]] = []
    answered: asyncio.Queue[None] = asyncio.Queue()

    async def reset(payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    async def stream(payload: dict[str, Any]) -> dict[str, Any]:
        sends.append(payload)
        return {}

    async def fails(payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug")

    async def answers_wrong(payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Maybe"}

    async def refuses(payload: dict[str, Any]) -> dict[str, Any]:
        raise CallFailed("SecurityError", "not from you", {"why": "test"})

    handlers = {
        "Reset": reset,
        "NotifyPeriodicEventStream": stream,
        "UnlockConnector": fails,
        "ClearCache": answers_wrong,
        "ChangeAvailability": refuses,
    }
    try:
        async with connect(f"ws://127.0.0.1:{port}/cp", subprotocols=[subprotocol]) as ws:  # type: ignore[list-item]
            endpoint = RpcEndpoint(ws, handlers, LIMITS, lambda: answered.put_nowait(None))
            reader = asyncio.create_task(endpoint.run())
            try:
                yield Ends(peer, endpoint, sends, answered, reader)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await reader
    finally:
        server.close()
        await server.wait_closed()


# (frame, unique id answered, code) per subprotocol; {reset} is the version's valid Reset.
BAD_FRAMES: list[tuple[str, str, dict[str, str]]] = [
    (
        "{not json",
        "-1",
        {"ocpp1.6": "FormationViolation", "ocpp2.0.1": "RpcFrameworkError"},
    ),
    (
        '[9, "m1", "Reset", {}]',
        "m1",
        {"ocpp1.6": "ProtocolError", "ocpp2.0.1": "MessageTypeNotSupported"},
    ),
    (
        '[2, "m2", "Reset"]',
        "m2",
        {"ocpp1.6": "ProtocolError", "ocpp2.0.1": "RpcFrameworkError"},
    ),
    (  # the 1.6 errata keep the typo, 2.0.1 too; 2.1 spells it right
        '[2, "m3", "Reset", {}]',
        "m3",
        {
            "ocpp1.6": "OccurenceConstraintViolation",
            "ocpp2.0.1": "OccurenceConstraintViolation",
            "ocpp2.1": "OccurrenceConstraintViolation",
        },
    ),
    ('[2, "m4", "Reset", {"type": "Sideways"}]', "m4", {"*": "PropertyConstraintViolation"}),
    ('[2, "m5", "Reset", {"type": 7}]', "m5", {"*": "TypeConstraintViolation"}),
    (
        '[2, "m6", "Reset", {"type": "Soft", "type2": 1}]',
        "m6",
        {"ocpp1.6": "FormationViolation", "ocpp2.0.1": "FormatViolation"},
    ),
    ('[2, "m7", "FlyToTheMoon", {}]', "m7", {"*": "NotImplemented"}),
    ('[2, "m8", "UpdateFirmware", {}]', "m8", {"*": "NotSupported"}),  # known, not handled
    (  # above the size limit: answered, with the id read from the frame's head
        '[2, "m9", "Reset", {"type": "' + "x" * 5000 + '"}]',
        "m9",
        {"ocpp1.6": "FormationViolation", "ocpp2.0.1": "FormatViolation"},
    ),
]


def _code(codes: dict[str, str], subprotocol: str) -> str:
    later = "ocpp2.0.1" if subprotocol == "ocpp2.1" else None
    return codes.get(subprotocol) or codes.get(later or "") or codes["*"]


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_bad_frames_get_the_versions_error_codes(subprotocol: str) -> None:
    async with linked(subprotocol) as ends:
        for raw, unique_id, codes in BAD_FRAMES:
            frame = raw.replace('"Soft"', json.dumps(RESET[subprotocol]["type"]))
            await ends.peer.send(frame)
            reply = await ends.peer.next()
            assert reply[:3] == [4, unique_id, _code(codes, subprotocol)], frame[:60]
        await ends.peer.send(json.dumps([2, "ok", "Reset", RESET[subprotocol]]))
        assert await ends.peer.next() == [3, "ok", {"status": "Accepted"}]
        # each well-formed CALL (m3 to m8, ok) is followed by the staged-work hook, once
        for _ in range(7):
            await asyncio.wait_for(ends.answered.get(), 5)
        assert ends.answered.empty()


async def test_a_21_send_is_handled_and_never_answered_a_bad_one_dropped() -> None:
    data = [{"t": 0.5, "v": "1"}]
    stream = {"id": 1, "pending": 0, "basetime": "2026-12-01T00:00:00Z", "data": data}
    async with linked("ocpp2.1") as ends:
        assert ends.endpoint.dialect is OCPP21
        await ends.peer.send(json.dumps([6, "s1", "NotifyPeriodicEventStream", stream]))
        await ends.peer.send(json.dumps([6, "s2", "NotifyPeriodicEventStream"]))  # bad: dropped
        await ends.peer.send('[5, "x1", "InternalError", "your answer", {}]')  # logged only
        await ends.peer.send(json.dumps([2, "after", "Reset", RESET["ocpp2.1"]]))
        assert await ends.peer.next() == [3, "after", {"status": "Accepted"}]  # nothing before
        assert ends.sends == [stream]


@pytest.mark.parametrize("subprotocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_send_and_callresulterror_are_21_only(subprotocol: str) -> None:
    async with linked(subprotocol) as ends:
        await ends.peer.send('[6, "s1", "NotifyPeriodicEventStream", {}]')
        reply = await ends.peer.next()
        unknown = "ProtocolError" if subprotocol == "ocpp1.6" else "MessageTypeNotSupported"
        assert reply[:3] == [4, "s1", unknown]


async def test_a_call_returns_the_answer_and_the_version_checks_both_ways() -> None:
    async with linked("ocpp2.0.1") as ends:
        with pytest.raises(CallFailed) as bad:  # 1.6 payload: refused before it is sent
            await ends.endpoint.prepared("Heartbeat", {"currentTime": "2026-12-01T00:00:00Z"})
        assert bad.value.code == "FormatViolation"
        call = asyncio.create_task(ends.endpoint.call("Heartbeat", {}))
        sent = await ends.peer.next()
        assert sent[0] == 2 and sent[2:] == ["Heartbeat", {}]
        await ends.peer.send(json.dumps([3, "someone-else", {"currentTime": "x"}]))  # ignored
        await ends.peer.send(json.dumps([3, sent[1], {"currentTime": "2026-12-01T00:00:00Z"}]))
        assert await call == {"currentTime": "2026-12-01T00:00:00Z"}

        call = asyncio.create_task(ends.endpoint.call("Heartbeat", {}))
        sent = await ends.peer.next()
        await ends.peer.send(json.dumps([3, sent[1], {}]))  # currentTime missing
        with pytest.raises(AnswerRefused) as refused:
            await call
        assert refused.value.code == "OccurenceConstraintViolation"

        call = asyncio.create_task(ends.endpoint.call("Heartbeat", {}))
        sent = await ends.peer.next()
        await ends.peer.send(json.dumps([4, sent[1], "SecurityError", "no", {"why": 1}]))
        with pytest.raises(CallFailed) as error:
            await call
        assert (error.value.code, error.value.details) == ("SecurityError", {"why": 1})
        assert not isinstance(error.value, AnswerRefused)


async def test_one_call_in_flight_and_each_waits_its_turn() -> None:
    async with linked("ocpp1.6") as ends:
        first = asyncio.create_task(ends.endpoint.call("Heartbeat", {}))
        second = asyncio.create_task(ends.endpoint.call("Heartbeat", {}))
        sent = await ends.peer.next()
        with pytest.raises(TimeoutError):  # the second is not sent before the first's answer
            await ends.peer.next(timeout_s=0.3)
        await ends.peer.send(json.dumps([3, sent[1], {"currentTime": "2026-12-01T00:00:00Z"}]))
        assert (await first)["currentTime"] == "2026-12-01T00:00:00Z"
        second_sent = await ends.peer.next()
        assert second_sent[1] != sent[1]
        with pytest.raises(TimeoutError):  # never answered: the call timeout (1 s)
            await second
        assert ends.endpoint.dialect is OCPP16


async def test_a_connection_lost_ends_the_waiting_call_at_once() -> None:
    async with linked("ocpp1.6") as ends:
        call = asyncio.create_task(ends.endpoint.call("Heartbeat", {}))
        await ends.peer.next()
        assert ends.peer.connection is not None
        with pytest.raises(ConnectionLost):
            async with asyncio.timeout(0.8):  # below the call timeout
                await ends.peer.connection.close()
                await call
        with pytest.raises(ConnectionClosed):  # the reader ends with the connection's error
            await ends.reader
        with pytest.raises(ConnectionLost):  # and no CALL starts on it any more
            await ends.endpoint.call("Heartbeat", {})


async def test_a_failing_or_wrong_handler_is_an_internal_error_and_a_refusal_keeps_its_code() -> (
    None
):
    async with linked("ocpp1.6") as ends:
        await ends.peer.send('[2, "u1", "UnlockConnector", {"connectorId": 1}]')
        assert (await ends.peer.next())[:3] == [4, "u1", "InternalError"]
        await ends.peer.send('[2, "c1", "ClearCache", {}]')  # its answer breaks the schema
        assert (await ends.peer.next())[:3] == [4, "c1", "InternalError"]
        await ends.peer.send(
            '[2, "a1", "ChangeAvailability", {"connectorId": 0, "type": "Operative"}]'
        )
        assert await ends.peer.next() == [4, "a1", "SecurityError", "not from you", {"why": "test"}]
        await ends.peer.send(json.dumps([2, "ok", "Reset", RESET["ocpp1.6"]]))
        assert await ends.peer.next() == [3, "ok", {"status": "Accepted"}]
