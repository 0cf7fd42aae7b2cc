"""Simulated Modbus devices: register reads computed from the physics, writes applied to it.

A device answers with the register map of its profile, encoded by the same codec the drivers
decode with. Exception codes are returned as plain ints (2 illegal address, 3 illegal value, ...).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass

from edge_controller.drivers.modbus.codec import CodecError, decode, encode
from edge_controller.drivers.profiles.schema import Point, Profile
from edge_controller.sim.faults import Fault, FaultSet, make_fault
from edge_controller.sim.registers import (
    ILLEGAL_ADDRESS,
    ILLEGAL_VALUE,
    TABLE_OF_FUNCTION,
    PointRef,
    RegisterMap,
)

Key = tuple[str, int | None]
# Accepted writes kept per device, newest last: enough for a reader polling every few seconds
# to see each setpoint a controller wrote (and when) between two looks.
WRITES_KEPT = 64


@dataclass(frozen=True, slots=True)
class WriteRecord:
    point: str
    connector: int | None
    value: float
    at_s: float


class DeviceSim:
    """Register behaviour shared by chargers and meters: lookups, encoding, faults, records."""

    def __init__(self, device_id: str, profile: Profile, connectors: int) -> None:
        self.device_id = device_id
        self.profile = profile
        self.registers = RegisterMap(profile, connectors)
        self.faults = FaultSet()
        self.stored: dict[Key, float] = {}
        self.last_writes: dict[Key, WriteRecord] = {}
        self.last_write: WriteRecord | None = None
        self.writes: deque[WriteRecord] = deque(maxlen=WRITES_KEPT)
        self.requests: Counter[int] = Counter()  # requests received, by function code
        self._stuck: dict[Key, float] = {}

    # -- to be specialised -------------------------------------------------------------------
    def value(self, ref: PointRef, now_s: float) -> float:
        """Engineering value of a point right now."""
        return self.stored.get((ref.name, ref.connector), 0.0)

    def apply(self, ref: PointRef, value: float, now_s: float) -> int | None:
        """Apply a validated write; return an exception code to refuse it."""
        self.stored[(ref.name, ref.connector)] = value
        return None

    def special_raw(self, ref: PointRef, words: list[int]) -> float | None:
        """A raw value with a meaning of its own (e.g. "charging off"), else None."""
        return None

    def power_up(self, now_s: float) -> None:
        """Reset volatile registers to their power-up values."""
        self.stored.clear()

    def served_table(self, table: str | None) -> str | None:
        """The table a read of ``table`` is answered from (some models alias two)."""
        return table

    # -- register access ---------------------------------------------------------------------
    def read(self, function_code: int, address: int, count: int, now_s: float) -> list[int] | int:
        table = self.served_table(TABLE_OF_FUNCTION.get(function_code))
        if table in ("input", "holding") and count > self.profile.transport.max_read_registers:
            return ILLEGAL_VALUE  # more than this model answers in one read
        if table is None or count < 1 or not self.registers.readable(table, address, count):
            return ILLEGAL_ADDRESS
        words: list[int] = []
        cache: dict[Key, list[int]] = {}
        for cursor in range(address, address + count):
            cell = self.registers.cell(table, cursor)
            if cell is None:
                words.append(0)
                continue
            key = (cell.point_name, cell.connector)
            if key not in cache:
                cache[key] = self._encoded(key, now_s)
            words.append(cache[key][cell.word])
        return words

    def write(
        self, function_code: int, address: int, values: list[int], now_s: float
    ) -> int | None:
        table = TABLE_OF_FUNCTION.get(function_code)
        if table not in ("holding", "coil"):
            return ILLEGAL_ADDRESS
        targets = self.registers.write_targets(table, address, len(values))
        if targets is None:
            return ILLEGAL_ADDRESS
        decoded: list[tuple[PointRef, float]] = []
        offset = 0
        for ref in targets:
            words = [int(v) for v in values[offset : offset + ref.point.words]]
            offset += ref.point.words
            value = self.special_raw(ref, words)
            if value is None:
                value = _decode(words, ref)
            if value is None:
                return ILLEGAL_VALUE
            decoded.append((ref, value))
        for ref, value in decoded:
            refused = self.apply(ref, value, now_s)
            if refused is not None:
                return refused
            record = WriteRecord(ref.name, ref.connector, value, now_s)
            self.last_writes[(ref.name, ref.connector)] = record
            self.last_write = record
            self.writes.append(record)
        return None

    def _encoded(self, key: Key, now_s: float) -> list[int]:
        ref = self.registers.refs[key]
        bad = self.faults.get("bad_value", now_s)
        if bad is not None and bad.point == key[0]:
            return unusable_words(bad.value, ref)
        value = self._stuck.get(key)
        if value is None:
            value = self.value(ref, now_s)
        return encode_clamped(value, ref)

    # -- faults and inspection ---------------------------------------------------------------
    def count_request(self, function_code: int) -> None:
        """A request addressed to this device arrived (answered or not)."""
        self.requests[function_code] += 1

    def inject(self, kind: str, now_s: float, **options: float | int | str | None) -> None:
        fault = make_fault(kind, now_s, **options)
        self.check_fault(fault)
        if fault.kind == "reboot":
            self.power_up(now_s)
        named = fault.kind in ("bad_value", "no_answer") and fault.point is not None
        if named and all(n != fault.point for n, _ in self.registers.refs):
            raise ValueError(f"no point {fault.point!r} in profile {self.profile.name}")
        if fault.kind == "stuck":
            self._stuck = {
                key: self.value(ref, now_s)
                for key, ref in self.registers.refs.items()
                if fault.point is None or ref.name == fault.point
            }
            if not self._stuck:
                raise ValueError(f"no point {fault.point!r} in profile {self.profile.name}")
        self.faults.inject(fault)

    def silent(self, function_code: int, address: int | None, count: int, now_s: float) -> bool:
        """Whether this request goes unanswered: the device is silent, or the request reads
        a register of the point a ``no_answer`` fault names."""
        if self.faults.silent(now_s):
            return True
        fault = self.faults.get("no_answer", now_s)
        if fault is None or address is None:
            return False
        table = self.served_table(TABLE_OF_FUNCTION.get(function_code))
        return any(
            name == fault.point
            and ref.point.table == table
            and ref.address < address + count
            and address < ref.address + ref.point.words
            for (name, _), ref in self.registers.refs.items()
        )

    def check_fault(self, fault: Fault) -> None:
        """ValueError when this device cannot have ``fault``."""
        if fault.kind == "charger_fault":
            raise ValueError(f"{self.device_id} is not a charger: no charger fault")

    def clear_faults(self, kind: str | None = None) -> None:
        self.faults.clear(kind)
        if kind in (None, "stuck"):
            self._stuck = {}

    def point_values(self, now_s: float) -> dict[str, float]:
        """Every point's engineering value as served now ("name" or "name@connector")."""
        out: dict[str, float] = {}
        for (name, connector), ref in self.registers.refs.items():
            single = connector is None or self.registers.connectors == 1
            label = name if single else f"{name}@{connector}"
            out[label] = self._stuck.get((name, connector), self.value(ref, now_s))
        return out


def _decode(words: list[int], ref: PointRef) -> float | None:
    try:
        value = decode(words, ref.point)
    except CodecError:
        return None
    point = ref.point
    too_low = point.min is not None and value < point.min
    too_high = point.max is not None and value > point.max
    return None if too_low or too_high else value


def _encode(value: float, point: Point) -> list[int]:
    """The codec's encode, plus the bit field (``shift``/``mask``) that decoding extracts."""
    if not point.shift and point.mask is None:
        return encode(value, point)
    raw = round(value / point.scale)
    if point.mask is not None:
        raw &= point.mask
    plain = point.model_copy(update={"shift": 0, "mask": None})
    return encode(float(raw << point.shift) * point.scale, plain)


def encode_clamped(value: float, ref: PointRef) -> list[int]:
    """Encode, saturating values the register type cannot hold (as device firmware does)."""
    try:
        return _encode(value, ref.point)
    except CodecError:
        pass
    words = ref.point.words
    if value < 0:
        try:
            return encode(0.0, ref.point)
        except CodecError:
            return [0] * words
    return [0xFFFF] * words if ref.point.type.startswith("u") else [0x7FFF] + [0xFFFF] * (words - 1)


def unusable_words(value: float | None, ref: PointRef) -> list[int]:
    """The registers of a point under the ``bad_value`` fault: ``value`` whatever the profile's
    range (the type's limits kept); without it NaN for a float point, else the largest raw
    value of the type (what many meters show for "not available")."""
    point = ref.point
    if value is not None or point.type != "float32":
        return encode_clamped(math.inf if value is None else value, ref)
    words = [0x7FC0, 0x0000]  # a quiet NaN, high word first
    if point.word_order == "little":
        words.reverse()
    if point.byte_order == "little":
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words
