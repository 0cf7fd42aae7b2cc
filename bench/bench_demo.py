"""The demo's virtual card: GET UID exchanges per second through ``hold_card`` (the card side of
the vpcd protocol) against a plain echo peer over the same loopback socket, as a ratio."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

from edge_controller.sim.rfid import GET_UID, TapResult, frame, hold_card

EXCHANGES = 2000
UID = bytes.fromhex("04A1B2C3D4E5F6")
REQUEST = frame(GET_UID + b"\x00")


async def _drive(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, done: asyncio.Future[float]
) -> None:
    """The reader side: ask for the ATR once, then EXCHANGES GET UID requests, timing them."""
    writer.write(frame(b"\x04"))
    (length,) = struct.unpack(">H", await reader.readexactly(2))
    await reader.readexactly(length)
    started = time.perf_counter()
    for _ in range(EXCHANGES):
        writer.write(REQUEST)
        await writer.drain()
        (length,) = struct.unpack(">H", await reader.readexactly(2))
        await reader.readexactly(length)
    done.set_result(time.perf_counter() - started)
    writer.close()


async def _card_rate() -> float:
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    server = await asyncio.start_server(lambda r, w: _drive(r, w, done), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = TapResult("bench", UID.hex(), 60.0)
        card = asyncio.create_task(hold_card("127.0.0.1", port, UID, 60.0, result))
        elapsed_s = await done
        await card
    return EXCHANGES / elapsed_s


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while header := await reader.read(2):
        (length,) = struct.unpack(">H", header)
        payload = await reader.readexactly(length)
        writer.write(frame(payload))
        await writer.drain()


async def _echo_rate() -> float:
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    server = await asyncio.start_server(lambda r, w: _drive(r, w, done), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        echo = asyncio.create_task(_echo(reader, writer))
        elapsed_s = await done
        await echo
        writer.close()
    return EXCHANGES / elapsed_s


def run() -> list[dict[str, Any]]:
    card = asyncio.run(_card_rate())
    echo = asyncio.run(_echo_rate())
    return [
        {
            "case": "virtual card GET UID",
            "exchanges_per_s": round(card),
            "vs_echo": round(card / echo, 2),
        },
        {"case": "plain echo (baseline)", "exchanges_per_s": round(echo), "vs_echo": 1.0},
    ]
