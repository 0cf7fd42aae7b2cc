"""The site's one keepalive task pings each open connection as the websocket library's task per
connection did: every interval while the peer answers, and a peer that stops answering is
closed with 1011 "keepalive ping timeout", its reader ending with ``ConnectionClosedError``.

The peer is a real websocket server (the library's sans-I/O protocol on a socket) that can be
told to stop writing anything, as a peer behind a dead network path."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.typing import DataLike

from edge_controller.uplink.keepalive import TIMED_OUT_REASON, Keepalive
from tests.integration.ocpp.harness import wait_for

pytestmark = pytest.mark.integration
INTERVAL_S = 0.2
TIMEOUT_S = 0.6
HANG_GUARD_S = 30.0  # not a measurement: a hung test fails instead of waiting for ever


class MutePeer:
    """Answers pings (the protocol does) until ``muted``; from then on writes nothing.
    Records when each ping came and the close frame it got."""

    def __init__(self) -> None:
        self.muted = False
        self.pings_at_s: list[float] = []
        self.close: Close | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        protocol = ServerProtocol()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                protocol.receive_data(data)
                for event in protocol.events_received():
                    self._seen(protocol, event)
                if not self.muted:
                    writer.write(b"".join(protocol.data_to_send()))
        writer.close()

    def _seen(self, protocol: ServerProtocol, event: object) -> None:
        if isinstance(event, Request):
            protocol.send_response(protocol.accept(event))
        elif isinstance(event, Frame) and event.opcode is Opcode.PING:
            self.pings_at_s.append(asyncio.get_running_loop().time())
        elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
            self.close = Close.parse(event.data)


class RecordingConnection(ClientConnection):
    """Records, on the event loop's clock, when each ping went out as the library stamps it
    (the time its pong's latency is counted from), and how many pongs were awaited then."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pings_sent_at_s: list[float] = []
        self.awaited_at_ping: list[int] = []

    async def ping(self, data: DataLike | None = None) -> Awaitable[float]:
        self.awaited_at_ping.append(len(self.pending_pings))
        pong = await super().ping(data)
        (sent_s,) = (at_s for waiter, at_s in self.pending_pings.values() if waiter is pong)
        self.pings_sent_at_s.append(sent_s)
        return pong


@asynccontextmanager
async def pinged_connection(
    peer: MutePeer,
) -> AsyncIterator[tuple[RecordingConnection, Keepalive]]:
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    keepalive = Keepalive()
    runner = asyncio.create_task(keepalive.run())
    try:
        url = f"ws://127.0.0.1:{port}/cp1"
        connecting = connect(
            url, ping_interval=None, close_timeout=0.5, create_connection=RecordingConnection
        )
        async with connecting as ws:
            assert isinstance(ws, RecordingConnection)
            with keepalive.watching(ws, INTERVAL_S, TIMEOUT_S):
                yield ws, keepalive
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        server.close()


async def test_a_peer_that_stops_answering_pings_is_closed_with_1011() -> None:
    peer = MutePeer()
    async with asyncio.timeout(HANG_GUARD_S), pinged_connection(peer) as (ws, _):
        # Without a pong no next ping is sent: three show each pong was taken in.
        await wait_for(lambda: len(peer.pings_at_s) >= 3)
        peer.muted = True
        with pytest.raises(ConnectionClosedError) as ended:
            await ws.recv()
    assert ended.value.sent is not None
    assert (ended.value.sent.code, ended.value.sent.reason) == (1011, TIMED_OUT_REASON)
    assert ended.value.rcvd is None  # a dead peer answers no close
    assert peer.close == Close(1011, TIMED_OUT_REASON)


async def test_pings_go_out_an_interval_apart_while_the_peer_answers() -> None:
    """Never sooner than the interval (the library's rule: the next ping an interval after
    the one before), and never more than one pong awaited at a time. The times are the
    client's own sends as the library stamps them: its next ping's timer is set from that
    stamp, and a timer never fires early, so a busy host can only make the gaps longer
    (the peer's view of them, on the same event loop, also carries its reads' delays)."""
    peer = MutePeer()
    async with asyncio.timeout(HANG_GUARD_S), pinged_connection(peer) as (ws, _):
        await wait_for(lambda: len(peer.pings_at_s) >= 5)
        assert ws.state.name == "OPEN"
    assert len(ws.pings_sent_at_s) >= 5
    assert ws.awaited_at_ping == [0] * len(ws.awaited_at_ping)
    gaps_s = [b - a for a, b in itertools.pairwise(ws.pings_sent_at_s)]
    # Less only by the loop's clock resolution (a timer due within it runs).
    clock_resolution_s = asyncio.get_running_loop()._clock_resolution  # type: ignore[attr-defined]
    assert min(gaps_s) >= INTERVAL_S - clock_resolution_s - 1e-9, gaps_s
