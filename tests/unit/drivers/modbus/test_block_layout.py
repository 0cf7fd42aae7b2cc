"""A read block's points unpacked in one call give exactly what decoding them one by one gives."""

from __future__ import annotations

import random
import struct

import pytest

from edge_controller.drivers.modbus import codec, pdu
from edge_controller.drivers.modbus.charger import status_names
from edge_controller.drivers.modbus.device import read_plan
from edge_controller.drivers.profiles.schema import (
    MEASUREMENT_POINTS,
    PROFILES_DIR,
    Point,
    load_profile,
)

PROFILES = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def _names(name: str) -> list[str]:
    profile = load_profile(name)
    names = list(MEASUREMENT_POINTS)
    return [*status_names(profile.status), *names] if profile.status is not None else names


def _one_by_one(words: list[int], block_members: list[tuple[str, int, Point]]) -> dict[str, float]:
    values = {}
    for name, offset, point in block_members:
        values[name] = codec.decode(words[offset : offset + point.words], point)
    return values


@pytest.mark.parametrize("name", PROFILES)
def test_a_layout_unpacks_what_the_points_decode_to(name: str) -> None:
    rng = random.Random(name)
    plan = read_plan(load_profile(name), _names(name), connector=2)
    assert plan
    for request, block, layout in plan:
        if layout is None:
            continue
        for _ in range(200):
            words = [
                rng.choice((0, 1, 0x7FFF, 0x8000, 0xFFFF, rng.randrange(0x10000)))
                for _ in range(block.count)
            ]
            reply = bytes([request[0], 2 * block.count]) + struct.pack(f">{block.count}H", *words)
            pdu.check_read_response(request, reply)
            members = [(m.name, m.offset, m.point) for m in block.members]
            try:
                expected = _one_by_one(words, members)
            except codec.CodecError:
                with pytest.raises(codec.CodecError):
                    for member, raw in zip(
                        block.members, layout.unpack_from(reply, 2), strict=True
                    ):
                        codec.scaled(raw, member.point)
                continue
            raws = layout.unpack_from(reply, 2)
            got = {
                m.name: codec.scaled(raw, m.point)
                for m, raw in zip(block.members, raws, strict=True)
            }
            assert got == expected


@pytest.mark.parametrize(
    ("name", "unpacked"),
    [
        ("phoenix_charx_sec3xxx", [True, True]),  # measurements; state, enabled, offered current
        ("keba_kecontact_p30", [True] * 11),  # a 32-bit value per read
        ("heidelberg_energy_control", [True]),
        ("eastron_sdm630", [True]),
        ("phoenix_em_cp_pp_eth", [False, True, False]),  # the coil; low word first
    ],
)
def test_the_polled_blocks_are_unpacked_in_one_call(name: str, unpacked: list[bool]) -> None:
    plan = read_plan(load_profile(name), _names(name))
    assert [layout is not None for _, _, layout in plan] == unpacked


def test_a_status_read_asks_for_each_point_once() -> None:
    keba = load_profile("keba_kecontact_p30")
    assert keba.status is not None
    assert status_names(keba.status) == ["state", "plug", "enabled", "offered_current"]
