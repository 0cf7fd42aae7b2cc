"""Exception codes, garbage and silence from a misbehaving TCP peer; reconnect after refusal."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge_controller.config.settings import MeterSettings, TcpBusSettings
from edge_controller.drivers import registry
from edge_controller.drivers.modbus import framing
from edge_controller.drivers.modbus.bus import ModbusBus
from edge_controller.drivers.modbus.links import MAX_UNREAD_BYTES, TcpLink
from edge_controller.drivers.modbus.pdu import EXCEPTION_NAMES
from edge_controller.drivers.modbus.trace import read_trace
from edge_controller.drivers.modbus.transport import Transport
from edge_controller.ports import DeviceFault, DeviceUnavailable, Meter
from tests.ports import free_port

from .conftest import words

pytestmark = pytest.mark.integration


@dataclass
class Peer:
    """A Modbus TCP peer whose answers the test chooses: ok, exception N, garbage, silence, or
    it hangs up on a request."""

    mode: str = "ok"
    port: int = 0
    requests: int = 0
    delay_s: float = 0.0  # before each answer
    power_w: float = 1000.0
    split_s: float = 0.0  # when > 0: each answer in two pieces this far apart

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                header = await reader.readexactly(7)
                tid, _proto, length, unit = struct.unpack(">HHHB", header)
                request = await reader.readexactly(length - 1)
                self.requests += 1
                if self.mode == "hang_up":
                    break
                reply = self.reply(request)
                await asyncio.sleep(self.delay_s)
                if reply is not None:
                    frame = struct.pack(">HHHB", tid, 0, len(reply) + 1, unit) + reply
                    if self.split_s:  # the header and the first bytes, then the rest
                        writer.write(frame[:9])
                        await writer.drain()
                        await asyncio.sleep(self.split_s)
                        frame = frame[9:]
                    writer.write(frame)
                    await writer.drain()
        writer.close()

    def reply(self, request: bytes) -> bytes | None:
        if self.mode == "silent":
            return None
        if self.mode.startswith("exception"):
            return bytes([request[0] | 0x80, int(self.mode.split(":")[1])])
        if self.mode == "garbage":
            return b"\x04\x07\x01"  # byte count disagrees with the request
        count = struct.unpack(">H", request[3:5])[0]
        values = [0] * count
        values[0x34:0x36] = words(">f", self.power_w)
        return bytes([request[0], 2 * count]) + b"".join(v.to_bytes(2, "big") for v in values)


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    state = Peer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state
        server.close()


async def open_meter(
    port: int, retries: int = 1, timeout_s: float = 0.3, record: Path | None = None
) -> tuple[ModbusBus, Meter]:
    settings = TcpBusSettings(
        type="tcp", host="127.0.0.1", port=port, timeout_s=timeout_s, retries=retries, record=record
    )
    bus = registry.build_bus("lan", settings)
    grid = registry.build_meter(
        "grid", MeterSettings(bus="lan", unit_id=1, profile="eastron_sdm630"), bus
    )
    return bus, grid


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (0x01, DeviceFault),
        (0x02, DeviceFault),
        (0x03, DeviceFault),
        (0x04, DeviceFault),
        (0x05, DeviceFault),
        (0x06, DeviceFault),
        (0x08, DeviceFault),
        (0x0A, DeviceFault),
        (0x0B, DeviceUnavailable),
    ],
)
async def test_exception_codes(peer: Peer, code: int, error: type[Exception]) -> None:
    peer.mode = f"exception:{code}"
    bus, grid = await open_meter(peer.port)
    async with bus:
        with pytest.raises(error, match=f"{code:02X}|timeout|unusable|{code}"):
            await grid.read()
        [view] = bus.views()
        assert view.errors[f"exception_{code:02X}"] >= 1
        assert view.available is (error is DeviceFault)
        # It answers, but with an exception: its one row says what is wrong.
        if error is DeviceFault:
            name = EXCEPTION_NAMES[code]
            assert (
                view.fault_text == f"grid: Modbus exception {code:02X} ({name}) to read input 0-75"
            )
    retried = code in (0x05, 0x06, 0x0B)
    assert peer.requests == (2 if retried else 1)


async def test_a_device_has_no_row_before_it_is_asked_and_its_fault_clears(peer: Peer) -> None:
    bus, grid = await open_meter(peer.port)
    async with bus:
        assert bus.views() == []  # nothing is known of it yet: not "available", not "NO"
        peer.mode = "exception:2"
        with pytest.raises(DeviceFault):
            await grid.read()
        assert bus.views()[0].fault_text is not None
        peer.mode = "ok"
        await grid.read()
        [view] = bus.views()
        assert view.available and view.fault_text is None and view.last_success_s is not None


async def test_garbage_reply_is_refused_not_a_number(peer: Peer) -> None:
    peer.mode = "garbage"
    bus, grid = await open_meter(peer.port)
    async with bus:
        with pytest.raises(DeviceFault, match="bad reply"):
            await grid.read()
        [view] = bus.views()
        # Framing let it through, so the bus counted an answer; the driver counts the error.
        assert view.errors == {"bad_reply": 1} and view.requests == 1
        assert view.available and view.fault_text is not None
        [event] = bus.error_histories()["grid"]
        assert (event.kind, event.message) == ("bad_reply", view.fault_text)
        assert "register read reply of wrong length" in event.message


async def test_silent_device_becomes_unavailable_and_recovers(peer: Peer) -> None:
    peer.mode = "silent"
    bus, grid = await open_meter(peer.port, retries=2)
    async with bus:
        with pytest.raises(DeviceUnavailable, match="timeout"):
            await grid.read()
        [view] = bus.views()
        assert not view.available and view.errors["timeout"] == 3
        peer.mode = "ok"
        reading = await grid.read()
        assert reading.total_power_w == 1000.0
        assert bus.views()[0].available


async def test_refused_connection_then_reconnect() -> None:
    port = free_port()
    bus, grid = await open_meter(port, retries=0)
    async with bus:
        with pytest.raises(DeviceUnavailable):
            await grid.read()
        state = Peer()
        server = await asyncio.start_server(state.handle, "127.0.0.1", port)
        async with server:
            for _ in range(40):  # reconnects after its backoff (first 0.5 s)
                with contextlib.suppress(DeviceUnavailable):
                    reading = await grid.read()
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("did not reconnect")
            assert reading.total_power_w == 1000.0
            server.close()
        assert bus.views()[0].errors["connection"] >= 1


class Tasks(Transport):
    """The real transport, recording which task ran each transaction."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner.link, inner.kind)
        self.tasks: list[asyncio.Task[object] | None] = []

    async def transact(self, unit_id: int, pdu: bytes, timeout_s: float) -> bytes:
        self.tasks.append(asyncio.current_task())
        return await super().transact(unit_id, pdu, timeout_s)


async def test_a_request_finding_the_bus_idle_runs_in_its_callers_task(peer: Peer) -> None:
    bus, grid = await open_meter(peer.port)
    ran = bus.transport = Tasks(bus.transport)
    async with bus:
        reading = asyncio.create_task(grid.read())
        assert (await reading).total_power_w == 1000.0
    # No queue, no worker, no future between them: the cheapest way through an idle bus.
    assert ran.tasks == [reading]


async def test_a_caller_giving_up_mid_transaction_leaves_the_next_its_own_answer(
    peer: Peer,
) -> None:
    bus, grid = await open_meter(peer.port)
    async with bus:
        peer.delay_s = 0.2
        given_up = asyncio.create_task(grid.read())
        await asyncio.sleep(0.1)  # its request is on the line, its answer late
        assert peer.requests == 1
        given_up.cancel()
        peer.delay_s, peer.power_w = 0.0, 2000.0
        reading = await grid.read()  # the late answer (1000 W) comes first: dropped
    assert reading.total_power_w == 2000.0
    assert peer.requests == 2


async def test_a_reply_later_than_the_timeout_is_dropped_by_its_transaction_id(peer: Peer) -> None:
    bus, grid = await open_meter(peer.port, retries=0, timeout_s=0.5)
    async with bus:
        peer.delay_s = 0.6
        with pytest.raises(DeviceUnavailable, match="timeout"):
            await grid.read()
        peer.delay_s, peer.power_w = 0.0, 2000.0
        reading = await grid.read()  # the late answer (1000 W) comes first: dropped
        [view] = bus.views()
    assert reading.total_power_w == 2000.0
    assert view.errors == {"timeout": 1} and view.requests == 2 and view.available


async def test_an_answer_arriving_in_pieces_is_put_together(peer: Peer) -> None:
    peer.split_s = 0.05
    bus, grid = await open_meter(peer.port, retries=0)
    async with bus:
        assert (await grid.read()).total_power_w == 1000.0
        peer.power_w = 1500.0
        assert (await grid.read()).total_power_w == 1500.0
        [view] = bus.views()
    assert view.errors == {} and view.requests == 2


async def test_a_peer_hanging_up_is_a_lost_connection_the_next_read_reopens(peer: Peer) -> None:
    bus, grid = await open_meter(peer.port, retries=0)
    async with bus:
        peer.mode = "hang_up"
        with pytest.raises(DeviceUnavailable, match="connection closed by peer"):
            await grid.read()
        peer.mode = "ok"
        reading = await grid.read()  # the first loss is reopened at once, without backoff
        [view] = bus.views()
    assert reading.total_power_w == 1000.0
    assert view.errors == {"connection": 1} and view.available
    assert peer.requests == 2


async def test_a_recorded_tcp_bus_traces_each_outcome_with_its_frames(
    peer: Peer, tmp_path: Path
) -> None:
    path = tmp_path / "lan.trace"
    bus, grid = await open_meter(peer.port, retries=0, record=path)
    async with bus:
        await grid.read()
        peer.mode = "silent"
        with pytest.raises(DeviceUnavailable, match="timeout"):
            await grid.read()
    [header] = read_trace(path).headers
    answered, silent = read_trace(path).events
    assert header.framing == "tcp"
    assert (answered.outcome, silent.outcome) == ("reply", "no_answer")
    # The MBAP frames as they crossed: transaction ids 1 and 2, the reply's own id echoed.
    assert answered.tx[:2] == b"\x00\x01" and silent.tx[:2] == b"\x00\x02"
    assert answered.rx is not None and answered.rx[:2] == b"\x00\x01"
    assert answered.reply == answered.rx[7:] and answered.reply[0] == answered.request[0]
    assert silent.rx is None and silent.reply is None


async def test_a_peer_sending_unasked_frames_is_read_only_so_far_and_its_answer_still_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stale = struct.pack(">HHHB", 0xFFFF, 0, 3, 1) + b"\x04\x00"  # no request of ours has id 0xFFFF
    flood = stale * (1_000_000 // len(stale))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(flood)  # before anything was asked
        await writer.drain()
        tid, _proto, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
        await reader.readexactly(length - 1)
        writer.write(struct.pack(">HHHB", tid, 0, 5, unit) + b"\x04\x02\x01\x08")
        await writer.drain()

    shown: list[int] = []  # how many bytes each frame's size was told from
    sized = framing.mbap_reply_size

    def counted(head: bytes) -> int | None:
        shown.append(len(head))
        return sized(head)

    monkeypatch.setattr(framing, "mbap_reply_size", counted)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    link = TcpLink("127.0.0.1", server.sockets[0].getsockname()[1], 2.0)
    transport = Transport(link, "tcp")
    async with server:
        await link.open()
        connection = link._tcp
        assert connection is not None
        for _ in range(1000):  # until the unread input reaches the limit
            if not connection.reading:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the link kept reading a peer that sent a megabyte unasked")
        # At most one read of the event loop (256 KiB) beyond the limit, not the megabyte.
        assert len(connection.rx) <= MAX_UNREAD_BYTES + 256 * 1024 < len(flood)
        reply = await transport.transact(1, bytes([4, 0, 5, 0, 1]), 5.0)
        assert reply == b"\x04\x02\x01\x08"  # every stale frame before it was dropped
        assert connection.reading and not connection.rx
        await link.close()
    # The work grows with the input, not with it times the buffer: every stale frame's size
    # was told from its head, not from the up to 64 KiB buffered behind it.
    frames = len(flood) // len(stale)
    assert len(shown) < 2 * frames
    assert sum(shown) <= len(flood), (len(shown), sum(shown))
