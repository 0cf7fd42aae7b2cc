"""Registers ↔ engineering values for one profile point. Pure: no I/O.

``words`` are 16-bit register values as they arrive on the wire (FC 03/04), in address order;
for coil/discrete points they are 0/1. ``word_order`` "big" means the register at the lowest
address holds the most significant word; ``byte_order`` "little" swaps the two bytes inside each
register.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from edge_controller.drivers.profiles.schema import Point

_FORMATS = {"u16": ">H", "s16": ">h", "u32": ">I", "s32": ">i", "u64": ">Q", "float32": ">f"}
_TYPES = {name: struct.Struct(fmt) for name, fmt in _FORMATS.items()}
_REGISTERS = {count: struct.Struct(f">{count}H") for count in (1, 2, 4)}


class CodecError(ValueError):
    """Registers that do not decode to a value, or a value that cannot be encoded."""


def _swap_bytes(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def _to_wire(words: list[int], point: Point) -> list[int]:
    """Big-endian canonical words → wire order (the transform is its own inverse)."""
    if point.word_order == "little":
        words = words[::-1]
    if point.byte_order == "little":
        words = [_swap_bytes(w) for w in words]
    return words


def decode(words: Sequence[int], point: Point) -> float:
    """Engineering value of ``point`` from its registers (raw × scale)."""
    count = len(words)
    if count != point.words:
        raise CodecError(f"{point.type} needs {point.words} registers, got {count}")
    try:
        # One pack of the registers as they came: every poll decodes each point of its reply.
        raw_bytes = _REGISTERS[count].pack(*words)
    except (KeyError, struct.error):
        raise CodecError("register value out of 0..65535") from None
    if point.type == "bool":
        return float(bool(words[0])) * point.scale
    if point.word_order == "little" or point.byte_order == "little":
        raw_bytes = _canonical(raw_bytes, point)
    (raw,) = _TYPES[point.type].unpack(raw_bytes)
    return scaled(raw, point)


def scaled(raw: float, point: Point) -> float:
    """Engineering value of a raw number unpacked for ``point`` (shift, mask, scale)."""
    if point.shift or point.mask is not None:
        raw = (int(raw) >> point.shift) & (point.mask if point.mask is not None else -1)
    value = float(raw)
    if not math.isfinite(value):
        raise CodecError(f"{point.type} is not a finite number")
    return value * point.scale


def block_layout(members: Sequence[tuple[int, Point]]) -> struct.Struct | None:
    """One struct unpacking the raw numbers of every point of a register block from its reply
    data in one call (``(offset in registers, point)`` in address order), or None where a point
    needs more than that (bits, little-endian words or bytes, points sharing registers): those
    are decoded point by point. Every poll decodes its blocks, most of them like this."""
    parts, cursor = [">"], 0
    for offset, point in members:
        code = _FORMATS.get(point.type)
        little = point.byte_order == "little" or (point.word_order == "little" and point.words > 1)
        if code is None or little or offset < cursor:
            return None
        if offset > cursor:
            parts.append(f"{2 * (offset - cursor)}x")
        parts.append(code[1])
        cursor = offset + point.words
    return struct.Struct("".join(parts))


def _canonical(raw_bytes: bytes, point: Point) -> bytes:
    """Wire-order register bytes → big-endian words (the transform is its own inverse)."""
    words = [raw_bytes[i : i + 2] for i in range(0, len(raw_bytes), 2)]
    if point.word_order == "little":
        words.reverse()
    if point.byte_order == "little":
        words = [w[::-1] for w in words]
    return b"".join(words)


def encode(value: float, point: Point) -> list[int]:
    """Registers (wire order) holding ``value`` for ``point`` (value / scale, rounded)."""
    if not math.isfinite(value):
        raise CodecError("cannot encode a non-finite value")
    raw = value / point.scale
    if point.type == "bool":
        return [1 if raw else 0]
    try:
        packed = struct.pack(_FORMATS[point.type], raw if point.type == "float32" else round(raw))
    except (struct.error, OverflowError) as exc:
        raise CodecError(f"{value} does not fit {point.type} (scale {point.scale})") from exc
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]
    return _to_wire(words, point)
