"""Codec: every type, word and byte order, scale; checked against struct-built registers."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_controller.drivers.modbus.codec import CodecError, decode, encode
from edge_controller.drivers.profiles.schema import Point


def _point(type_: str, word_order: str = "big", byte_order: str = "big", **kw: object) -> Point:
    return Point.model_validate(
        {
            "table": "holding",
            "address": 0,
            "type": type_,
            "word_order": word_order,
            "byte_order": byte_order,
            **kw,
        }
    )


def _words(fmt: str, value: float) -> list[int]:
    raw = struct.pack(fmt, value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


@pytest.mark.parametrize(
    ("type_", "fmt", "value"),
    [
        ("u16", ">H", 65535),
        ("s16", ">h", -2),
        ("u32", ">I", 0x12345678),
        ("s32", ">i", -123456),
        ("u64", ">Q", 0x0001020304050607),  # floats are exact to 2**53
        ("float32", ">f", 229.5),
    ],
)
def test_big_endian_types_decode_like_struct(type_: str, fmt: str, value: float) -> None:
    assert decode(_words(fmt, value), _point(type_)) == value


def test_low_word_first_reverses_words() -> None:
    words = _words(">i", -70000)
    assert decode(words[::-1], _point("s32", word_order="little")) == -70000


def test_byte_swap_inside_each_word() -> None:
    words = [((w & 0xFF) << 8) | (w >> 8) for w in _words(">f", 1.5)]
    assert decode(words, _point("float32", byte_order="little")) == 1.5


def test_scale_applies_to_raw_value() -> None:
    assert decode([161], _point("u16", scale=0.1)) == pytest.approx(16.1)
    assert encode(16.1, _point("u16", scale=0.1)) == [161]


def test_shift_and_mask_pick_the_high_byte() -> None:
    assert decode([0x4331], _point("u16", shift=8, mask=255)) == ord("C")


def test_nan_float_is_rejected() -> None:
    with pytest.raises(CodecError):
        decode([0x7FC0, 0x0000], _point("float32"))


def test_wrong_register_count_is_rejected() -> None:
    with pytest.raises(CodecError):
        decode([1], _point("u32"))


def test_value_that_does_not_fit_is_rejected() -> None:
    with pytest.raises(CodecError):
        encode(70000, _point("u16"))
    with pytest.raises(CodecError):
        encode(-1, _point("u32"))
    with pytest.raises(CodecError):
        encode(math.nan, _point("u16"))


ORDERS = st.sampled_from(["big", "little"])


@given(value=st.integers(-(2**31), 2**31 - 1), word_order=ORDERS, byte_order=ORDERS)
def test_s32_round_trips_in_every_order(value: int, word_order: str, byte_order: str) -> None:
    point = _point("s32", word_order, byte_order)
    assert decode(encode(value, point), point) == value


@given(value=st.integers(0, 2**53), word_order=ORDERS, byte_order=ORDERS)
def test_u64_round_trips_in_every_order(value: int, word_order: str, byte_order: str) -> None:
    point = _point("u64", word_order, byte_order)
    assert decode(encode(value, point), point) == value


@given(value=st.floats(allow_nan=False, allow_infinity=False, width=32), word_order=ORDERS)
def test_float32_round_trips(value: float, word_order: str) -> None:
    point = _point("float32", word_order)
    assert decode(encode(value, point), point) == value


@pytest.mark.parametrize("byte_order", ["big", "little"])
@pytest.mark.parametrize("words", [[0x10000], [-1]])
def test_a_register_outside_16_bits_is_rejected_in_any_order(
    words: list[int], byte_order: str
) -> None:
    with pytest.raises(CodecError, match=r"out of 0\.\.65535"):
        decode(words, _point("u16", byte_order=byte_order))
    with pytest.raises(CodecError, match=r"out of 0\.\.65535"):
        decode([*words, 0], _point("s32", word_order="little", byte_order=byte_order))
