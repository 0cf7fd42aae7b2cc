"""Find and identify the devices on a bus, reading only.

A unit is probed with the first signature read of the candidate profiles; silence (or a
gateway's "target failed to respond") means nobody is there. A unit that answers, even with an
exception, is then asked for every profile's ``identify:`` registers and matched:

- ``high``: the profile's identity register (a model code) holds one of its values;
- ``medium``: only plausibility checks, and no other profile fits as well;
- ``low``: several profiles fit equally (all are listed as candidates).

A unit that fits no profile is an "unknown model", with the replies it gave. Only read
functions (FC 03/04, and 01/02 for bit points) are ever sent: :func:`read_only` guards it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from edge_controller.drivers.modbus import codec, pdu
from edge_controller.drivers.modbus.bus import DeviceChannel, DeviceTiming, ModbusBus
from edge_controller.drivers.modbus.device import read_blocks
from edge_controller.drivers.modbus.reads import Block
from edge_controller.drivers.profiles.schema import Profile
from edge_controller.ports import DeviceFault, DeviceUnavailable

READ_FUNCTIONS = frozenset(pdu.READ_FC.values())
CONFIDENCES = ("high", "medium", "low")


class WriteRefused(AssertionError):
    """A scan tried to send something other than a read (a bug: scans never write)."""


def read_only(request: bytes) -> bytes:
    if not request or request[0] not in READ_FUNCTIONS:
        raise WriteRefused(f"a scan only reads; refused function {request[:1].hex()}")
    return request


@dataclass(frozen=True, slots=True)
class Line:
    """Serial line settings one pass of a scan uses (all None on Modbus TCP)."""

    baud: int | None = None
    parity: str | None = None
    stop_bits: int | None = None

    def label(self) -> str:
        if self.baud is None:
            return "tcp"
        return f"{self.baud} 8{self.parity}{self.stop_bits}"


@dataclass(frozen=True, slots=True)
class Match:
    """How well one profile fits the values a unit gave."""

    profile: str
    model: str
    kind: str
    identity: bool
    checks: int


@dataclass(slots=True)
class Found:
    """One answering unit: its best match (None: unknown model) and what it answered."""

    unit: int
    line: Line
    match: Match | None
    confidence: str | None
    candidates: tuple[str, ...] = ()
    values: dict[str, float] = field(default_factory=dict)  # "profile.point" → value used
    replies: dict[str, str] = field(default_factory=dict)  # request hex → reply or exception


def signature_blocks(profile: Profile) -> list[Block]:
    return read_blocks(profile, [check.point for check in profile.identify])


def evaluate(profile: Profile, values: dict[str, float | None]) -> Match | None:
    """The profile's verdict on the decoded signature values (None: a check failed). Pure."""
    if not profile.identify:
        return None
    identity = False
    for check in profile.identify:
        value = values.get(check.point)
        if value is None or not check.accepts(value):
            return None
        identity = identity or check.identity
    return Match(profile.name, profile.model, profile.kind, identity, len(profile.identify))


def decide(matches: Sequence[Match]) -> tuple[Match | None, str | None, tuple[str, ...]]:
    """Best match, its confidence and every candidate as good as it. Pure."""
    if not matches:
        return None, None, ()
    ranked = sorted(matches, key=lambda m: (not m.identity, -m.checks, m.profile))
    best = ranked[0]
    rank = (best.identity, best.checks)
    ties = tuple(m.profile for m in ranked if (m.identity, m.checks) == rank)
    if best.identity and len(ties) == 1:
        return best, "high", ties
    return best, ("medium" if len(ties) == 1 else "low"), ties


def estimate_left_s(done: int, total: int, elapsed_s: float, probe_s: float) -> float:
    """Time left: the pace so far once there is one, the model's cost per probe before. Pure."""
    remaining = max(0, total - done)
    pace_s = elapsed_s / done if done > 0 and elapsed_s > 0 else probe_s
    return remaining * pace_s


class _Absent(Exception):
    """The unit did not answer its first probe."""


class UnitProbe:
    """Reads the signature registers of every candidate profile from one unit, each request
    once (profiles often share a register, e.g. two meters of one vendor)."""

    def __init__(self, channel: DeviceChannel, line: Line) -> None:
        self.channel = channel
        self.line = line
        self._replies: dict[bytes, list[int] | None] = {}
        self.replies: dict[str, str] = {}
        self.answered = False

    async def _read(self, block: Block) -> list[int] | None:
        request = read_only(pdu.read_request(block.table, block.start, block.count))
        if request in self._replies:
            return self._replies[request]
        words: list[int] | None = None
        try:
            reply = await self._request(request)
        except DeviceUnavailable as exc:
            self.replies[request.hex()] = "no answer"
            if not self.answered:
                raise _Absent() from exc
        except DeviceFault as exc:
            self.answered = True
            self.replies[request.hex()] = str(exc).removeprefix(f"{self.channel.device_id}: ")
        else:
            self.answered = True
            try:
                words = pdu.parse_read_response(request, reply)
                self.replies[request.hex()] = reply.hex()
            except (pdu.FrameError, pdu.ModbusExceptionResponse) as exc:
                self.replies[request.hex()] = f"bad reply: {exc}"
        self._replies[request] = words
        return words

    async def _request(self, request: bytes) -> bytes:
        """One read; a unit that has answered is asked once more when a reply is missing (a
        frame lost on the line must not make a known model "unknown"). A silent unit is asked
        only once, so a scan over empty addresses stays as quick as the timeout allows."""
        try:
            return await self.channel.request(request)
        except DeviceUnavailable:
            if not self.answered:
                raise
        return await self.channel.request(request)

    async def values(self, profile: Profile) -> dict[str, float | None]:
        values: dict[str, float | None] = {}
        for block in signature_blocks(profile):
            words = await self._read(block)
            for member in block.members:
                values[member.name] = None
                if words is None:
                    continue
                chunk = words[member.offset : member.offset + member.point.words]
                try:
                    value = codec.decode(chunk, member.point)
                except codec.CodecError:
                    continue
                values[member.name] = value if math.isfinite(value) else None
        return values


async def probe_unit(
    bus: ModbusBus, unit: int, line: Line, profiles: Sequence[Profile], timing: DeviceTiming
) -> Found | None:
    """What answers at ``unit`` (None: nothing)."""
    channel = bus.attach(f"unit {unit} at {line.label()}", unit, timing)
    probe = UnitProbe(channel, line)
    matches: list[Match] = []
    used: dict[str, float] = {}
    try:
        for profile in profiles:
            values = await probe.values(profile)
            match = evaluate(profile, values)
            if match is not None:
                matches.append(match)
                used |= {f"{profile.name}.{k}": v for k, v in values.items() if v is not None}
    except _Absent:
        return None
    finally:
        bus.detach(channel.device_id)  # a probe is no device of the bus's
    best, confidence, candidates = decide(matches)
    if best is not None:
        used = {k: v for k, v in used.items() if k.split(".")[0] in candidates}
    return Found(unit, line, best, confidence, candidates, used, probe.replies)


async def scan_line(
    bus: ModbusBus,
    line: Line,
    units: Iterable[int],
    profiles: Sequence[Profile],
    timing: DeviceTiming,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[Found]:
    """Probe each unit on an open bus, in order; ``progress(unit index, found)`` after each."""
    found: list[Found] = []
    for index, unit in enumerate(units, start=1):
        result = await probe_unit(bus, unit, line, profiles, timing)
        if result is not None:
            found.append(result)
        if progress is not None:
            progress(index, len(found))
    return found


def scannable(profiles: Iterable[Profile], framing: str) -> list[Profile]:
    """Profiles with signatures that can sit on a bus of ``framing`` (ASCII only with ASCII)."""
    return [
        p
        for p in profiles
        if p.identify
        and not ("ascii" in (framing, p.transport.framing) and framing != p.transport.framing)
    ]


def serial_lines(profiles: Iterable[Profile], framing: str, first: Line | None) -> list[Line]:
    """The baud/parity/stop-bit combinations to try with ``--baud auto``: the bus's own first,
    then each the profiles' devices ship with, the most common first."""
    counts: dict[Line, int] = {}
    for profile in profiles:
        transport = profile.transport
        speaks = transport.framing if transport.framing != "tcp" else None
        if transport.baud is None or speaks != framing:
            continue
        line = Line(transport.baud, transport.parity or "N", transport.stop_bits or 1)
        counts[line] = counts.get(line, 0) + 1
    ordered = sorted(counts, key=lambda line: (-counts[line], line.baud or 0, line.parity or ""))
    if first is not None:
        ordered = [first, *(line for line in ordered if line != first)]
    return ordered


def parse_units(text: str) -> list[int]:
    """``1-247``, ``1,3,10-12`` → unit ids (0..255), in the order given, without repeats."""
    units: list[int] = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"units: {part.strip()!r} is not a unit id or a range") from None
        if not 0 <= first <= last <= 255:
            raise ValueError(f"units: {part.strip()!r} must lie in 0..255, low to high")
        units += [u for u in range(first, last + 1) if u not in units]
    return units
