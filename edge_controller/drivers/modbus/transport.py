"""One Modbus transaction over a link: frame the PDU, send, receive and unframe the reply."""

from __future__ import annotations

from typing import Literal

from edge_controller.drivers.modbus import framing
from edge_controller.drivers.modbus.links import Link

Framing = Literal["rtu", "ascii", "tcp"]


def _ascii_size(buffer: bytes) -> int | None:
    end = buffer.find(b"\n")
    return None if end < 0 else end + 1


class Transport:
    """Frames for one bus. Not concurrency-safe: the bus runs one transaction at a time."""

    def __init__(self, link: Link, kind: Framing) -> None:
        self.link = link
        self.kind = kind
        self._transaction_id = 0

    async def transact(self, unit_id: int, pdu: bytes) -> bytes:
        """The reply PDU; raises FrameError, OSError/ConnectionError (timeouts are the caller's)."""
        if self.kind == "tcp":
            return await self._transact_tcp(unit_id, pdu)
        self.link.discard()
        if self.kind == "rtu":
            await self.link.send(framing.rtu_frame(unit_id, pdu))
            frame = await self.link.receive(framing.rtu_reply_size)
            return framing.rtu_unframe(unit_id, frame)
        await self.link.send(framing.ascii_frame(unit_id, pdu))
        return framing.ascii_unframe(unit_id, await self.link.receive(_ascii_size))

    async def _transact_tcp(self, unit_id: int, pdu: bytes) -> bytes:
        self._transaction_id = (self._transaction_id + 1) & 0xFFFF
        await self.link.send(framing.mbap_frame(self._transaction_id, unit_id, pdu))
        while True:
            frame = await self.link.receive(framing.mbap_reply_size)
            transaction_id, _unit, reply = framing.mbap_unframe(frame)
            if transaction_id == self._transaction_id:
                return reply
            # A late reply to a request that already timed out: drop it, keep waiting.
