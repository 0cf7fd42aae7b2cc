"""One Modbus transaction over a link: frame the PDU, send, receive and unframe the reply."""

from __future__ import annotations

import asyncio
from typing import Literal

from edge_controller.drivers.modbus import framing
from edge_controller.drivers.modbus.links import Link
from edge_controller.drivers.modbus.pdu import FrameError
from edge_controller.drivers.modbus.trace import Frames, TraceRecorder

Framing = Literal["rtu", "ascii", "tcp"]


def _ascii_size(buffer: bytes) -> int | None:
    end = buffer.find(b"\n")
    return None if end < 0 else end + 1


def outcome_of(exc: BaseException) -> str:
    """How a failed transaction goes into a trace (a cancelled one timed out: the bus's
    timeout cancels the transaction)."""
    if isinstance(exc, FrameError):
        return "garbled"
    if isinstance(exc, TimeoutError | asyncio.CancelledError):
        return "no_answer"
    return "link"


class Transport:
    """Frames for one bus. Not concurrency-safe: the bus runs one transaction at a time.
    With a ``recorder`` every transaction goes into a trace (``trace.py``)."""

    def __init__(self, link: Link, kind: Framing, recorder: TraceRecorder | None = None) -> None:
        self.link = link
        self.kind = kind
        self.recorder = recorder
        self._transaction_id = 0

    async def transact(self, unit_id: int, pdu: bytes, timeout_s: float) -> bytes:
        """The reply PDU; raises TimeoutError when no whole reply came within ``timeout_s``,
        FrameError, OSError/ConnectionError. A TCP link times the transaction itself, with one
        timer; a serial port's transaction runs in a timeout context."""
        if self.link.time_out_in(timeout_s):
            try:
                return await self._recorded(unit_id, pdu)
            finally:
                self.link.time_out_in(None)
        async with asyncio.timeout(timeout_s):
            return await self._recorded(unit_id, pdu)

    async def _recorded(self, unit_id: int, pdu: bytes) -> bytes:
        if self.recorder is None:  # no frames kept: most buses record nothing
            if self.kind == "tcp":
                return await self._transact_tcp(unit_id, pdu, None)
            return await self._transact(unit_id, pdu, Frames(0.0))
        frames = Frames(self.recorder.now_s())
        try:
            reply = await self._transact(unit_id, pdu, frames)
        except BaseException as exc:
            self.recorder.record(unit_id, pdu, outcome_of(exc), frames)
            raise
        self.recorder.record(unit_id, pdu, "reply", frames)
        return reply

    async def _transact(self, unit_id: int, pdu: bytes, frames: Frames) -> bytes:
        if self.kind == "tcp":
            return await self._transact_tcp(unit_id, pdu, frames)
        self.link.discard()
        if self.kind == "rtu":
            frames.tx = framing.rtu_frame(unit_id, pdu)
            await self.link.send(frames.tx)
            frames.rx = await self.link.receive(framing.rtu_reply_size)
            frames.reply = framing.rtu_unframe(unit_id, frames.rx)
            return frames.reply
        frames.tx = framing.ascii_frame(unit_id, pdu)
        await self.link.send(frames.tx)
        frames.rx = await self.link.receive(_ascii_size)
        frames.reply = framing.ascii_unframe(unit_id, frames.rx)
        return frames.reply

    async def _transact_tcp(self, unit_id: int, pdu: bytes, frames: Frames | None) -> bytes:
        self._transaction_id = (self._transaction_id + 1) & 0xFFFF
        tx = framing.mbap_frame(self._transaction_id, unit_id, pdu)
        if frames is not None:
            frames.tx = tx
        await self.link.send(tx)
        while True:
            frame = await self.link.receive(framing.mbap_reply_size)
            transaction_id, _unit, reply = framing.mbap_unframe(frame)
            if transaction_id == self._transaction_id:
                if frames is not None:
                    frames.rx, frames.reply = frame, reply
                return reply
            # A late reply to a request that already timed out: drop it, keep waiting.
