"""Profile-driven access to one device (one connector of it): read named points, write setpoints.

Decoding errors, implausible values and replies of the wrong shape become DeviceFault here,
logged once per change and counted as errors of the device (``bad_value``, ``bad_reply``): the
bus counted their requests as answered.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping

from edge_controller.drivers.modbus import codec, pdu
from edge_controller.drivers.modbus.bus import DeviceChannel
from edge_controller.drivers.modbus.reads import Block, plan_reads
from edge_controller.drivers.profiles.schema import Point, Profile
from edge_controller.ports import DeviceFault, DeviceUnavailable, NotSupported

Check = Callable[[Mapping[str, float]], str | None]  # why read values cannot be right, or None


def read_blocks(profile: Profile, names: Iterable[str], connector: int = 1) -> list[Block]:
    """The reads that fetch the named points (those the profile defines) of one connector."""
    wanted = [
        (name, point, profile.address_of(point, connector))
        for name in names
        if (point := profile.points.get(name)) is not None
    ]
    transport = profile.transport
    return plan_reads(wanted, transport.max_read_registers, transport.max_hole_registers)


Planned = tuple[bytes, Block, struct.Struct | None]  # request, block, its layout (codec)


def read_plan(profile: Profile, names: Iterable[str], connector: int = 1) -> list[Planned]:
    """The requests reading the named points, each with its block and, where the block's
    points allow, the struct that unpacks them all from the reply (``codec.block_layout``)."""
    return [
        (
            pdu.read_request(b.table, b.start, b.count),
            b,
            codec.block_layout([(m.offset, m.point) for m in b.members]),
        )
        for b in read_blocks(profile, names, connector)
    ]


def write_request(profile: Profile, name: str, words: list[int], connector: int = 1) -> bytes:
    """The request PDU writing ``words`` to a point (FC 05, 06 or 16 as the point needs)."""
    point = profile.points.get(name)
    if point is None or not point.writable:
        raise NotSupported(f"{profile.name}: point {name!r} is not writable")
    address = profile.address_of(point, connector)
    if point.table == "coil":
        return pdu.write_coil_request(address, bool(words[0]))
    if len(words) == 1 and not point.write_multiple:
        return pdu.write_register_request(address, words[0])
    return pdu.write_registers_request(address, words)


class ProfileDevice:
    def __init__(self, channel: DeviceChannel, profile: Profile, connector: int = 1) -> None:
        self.channel = channel
        self.profile = profile
        self.connector = connector
        self._ready_epoch: int | None = None  # the channel's outage count when set up
        self._plans: dict[tuple[str, ...], list[Planned]] = {}

    @property
    def initialised(self) -> bool:
        return self._ready_epoch == self.channel.setup.epoch

    def has(self, name: str) -> bool:
        return name in self.profile.points

    def point(self, name: str) -> Point:
        try:
            return self.profile.points[name]
        except KeyError:
            raise NotSupported(f"{self.profile.name} has no point {name!r}") from None

    async def read(
        self, names: Iterable[str], urgent: bool = False, check: Check | None = None
    ) -> dict[str, float]:
        """Engineering values of the named points (those the profile defines); ``check`` says
        why they cannot be right together (a fault of the device), or None."""
        values: dict[str, float] = {}
        for request, block, layout in self._planned(tuple(names)):
            reply = await self._read_reply(request, urgent)
            if layout is not None:  # every point at once
                raws = layout.unpack_from(reply, 2)
                for member, raw in zip(block.members, raws, strict=True):
                    values[member.name] = self._checked(member.name, member.point, raw=raw)
                continue
            words = pdu.response_words(request, reply)
            for member in block.members:
                chunk = words[member.offset : member.offset + member.point.words]
                values[member.name] = self._checked(member.name, member.point, chunk)
        reason = check(values) if check is not None else None
        if reason is not None:
            raise self.fault(reason)
        self.channel.note_ok()
        return values

    def _planned(self, names: tuple[str, ...]) -> list[Planned]:
        """The requests reading ``names``, planned once: a poll asks for the same points every
        second, and planning them cost as much as decoding the answer."""
        plan = self._plans.get(names)
        if plan is None:
            plan = read_plan(self.profile, names, self.connector)
            self._plans[names] = plan
        return plan

    async def write(self, name: str, value: float) -> None:
        await self.write_raw(name, self._encoded(name, value))

    async def write_raw(self, name: str, words: list[int]) -> None:
        request = write_request(self.profile, name, words, self.connector)
        await self._call(request, urgent=True)

    async def ensure_initialised(self, then: Callable[[], Awaitable[None]] | None = None) -> None:
        """Start-up writes from the profile, once per device however many connectors and
        pollers ask at the same time; again after the device was unreachable. ``then`` runs
        after them (under the same lock) before this connector counts as set up."""
        if self.initialised:
            return
        setup = self.channel.setup
        async with setup.lock:
            if self.initialised:
                return  # another poller of this connector did it meanwhile
            epoch = setup.epoch
            for step in self.profile.init:
                point = self.point(step.point)
                words = tuple(self._encoded(step.point, step.value))
                key = (self.profile.address_of(point, self.connector), words)
                if key not in setup.written:
                    await self.write_raw(step.point, list(words))
                    setup.written.add(key)
            if then is not None:
                await then()
            if setup.epoch == epoch:  # no outage in between
                self._ready_epoch = epoch

    def _encoded(self, name: str, value: float) -> list[int]:
        try:
            return codec.encode(value, self.point(name))
        except codec.CodecError as exc:
            raise DeviceFault(f"{self.channel.device_id}: cannot write {name}: {exc}") from exc

    async def _read_reply(self, request: bytes, urgent: bool) -> bytes:
        """The reply to a read, checked to hold all it asked for."""
        return await self._call(request, urgent, pdu.check_read_response)

    async def _call(
        self,
        request: bytes,
        urgent: bool,
        check: Callable[[bytes, bytes], None] = pdu.check_write_response,
    ) -> bytes:
        try:
            reply = await self.channel.request(request, urgent)
        except DeviceUnavailable:
            self.channel.setup.forget()  # it may have rebooted and lost its settings
            raise
        except DeviceFault as exc:
            self.channel.note_fault(str(exc))
            raise
        try:
            check(request, reply)
        except (pdu.FrameError, pdu.ModbusExceptionResponse) as exc:
            raise self.fault(f"bad reply: {exc}", "bad_reply") from exc
        return reply

    def _checked(
        self, name: str, point: Point, words: list[int] | None = None, raw: float = 0
    ) -> float:
        """The value of ``point`` from its registers, or from the raw number a block's layout
        unpacked (``words`` None)."""
        try:
            value = codec.scaled(raw, point) if words is None else codec.decode(words, point)
        except codec.CodecError as exc:
            raise self.fault(f"{name}: {exc}") from exc
        low = point.min if point.min is not None else -math.inf
        high = point.max if point.max is not None else math.inf
        if not low <= value <= high:
            raise self.fault(f"{name} = {value:g} {point.unit} is implausible")
        return value

    def fault(self, message: str, kind: str = "bad_value") -> DeviceFault:
        """The fault of an answered reply the driver cannot use, counted as ``kind``."""
        text = f"{self.channel.device_id}: {message}"
        self.channel.note_unusable(kind, text)
        return DeviceFault(text)
