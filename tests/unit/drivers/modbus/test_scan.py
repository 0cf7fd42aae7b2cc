"""The pure parts of a bus scan: signature verdicts, confidence, line settings, unit ranges,
the time-left estimate, and the read-only guard."""

from __future__ import annotations

import struct
from typing import cast

import pytest

from edge_controller.drivers.modbus import pdu
from edge_controller.drivers.modbus.bus import DeviceChannel
from edge_controller.drivers.modbus.scan import (
    Line,
    Match,
    UnitProbe,
    WriteRefused,
    _Absent,
    decide,
    estimate_left_s,
    evaluate,
    parse_units,
    read_only,
    scannable,
    serial_lines,
)
from edge_controller.drivers.profiles.schema import ProfileError, load_profile, load_profile_file
from edge_controller.drivers.registry import profile_kinds
from edge_controller.ports import DeviceUnavailable

SHIPPED = [load_profile(name) for name in sorted(profile_kinds())]


def test_every_shipped_device_profile_has_a_signature() -> None:
    # generic_meter is a template for the installer's own meter: nothing to recognise.
    unsigned = sorted(p.name for p in SHIPPED if not p.identify)
    assert unsigned == ["generic_meter"]


def test_a_model_code_gives_the_eastron_meters_apart() -> None:
    sdm630, sdm72d = load_profile("eastron_sdm630"), load_profile("eastron_sdm72d")
    seen = {"model_code": 112.0, "voltage_l1": 231.2}
    assert evaluate(sdm630, seen) == Match("eastron_sdm630", sdm630.model, "meter", True, 2)
    assert evaluate(sdm72d, seen) is None


@pytest.mark.parametrize(
    ("values", "fits"),
    [
        ({"layout_version": 0x0108, "state": 2}, True),
        ({"layout_version": 0x0108, "state": 1}, False),  # no such Heidelberg state
        ({"layout_version": 0x0208, "state": 2}, False),  # another register layout
        ({"layout_version": None, "state": 2}, False),  # not answered
        ({"state": 2}, False),  # not read
    ],
)
def test_every_check_of_a_signature_must_hold(values: dict[str, float | None], fits: bool) -> None:
    assert (evaluate(load_profile("heidelberg_energy_control"), values) is not None) is fits


def test_confidence_high_with_an_identity_register() -> None:
    best, confidence, candidates = decide(
        [Match("a", "A", "meter", False, 2), Match("b", "B", "meter", True, 2)]
    )
    assert best is not None and best.profile == "b"
    assert (confidence, candidates) == ("high", ("b",))


def test_confidence_medium_when_only_plausible_and_alone() -> None:
    assert decide([Match("keba", "K", "charger", False, 2)])[1:] == ("medium", ("keba",))


def test_confidence_low_when_several_fit_as_well() -> None:
    best, confidence, candidates = decide(
        [Match("y", "Y", "charger", False, 1), Match("x", "X", "charger", False, 1)]
    )
    assert best is not None and best.profile == "x"
    assert (confidence, candidates) == ("low", ("x", "y"))


def test_no_fit_is_an_unknown_model() -> None:
    assert decide([]) == (None, None, ())


def test_auto_baud_tries_the_bus_setting_first_then_each_the_profiles_use() -> None:
    lines = serial_lines(SHIPPED, "rtu", Line(19200, "N", 1))
    assert lines[0] == Line(19200, "N", 1)
    # Eastron x2 + EM24 at 9600 8N1; Heidelberg + ABB at 19200 8E1; ABL speaks ASCII.
    assert lines[1:] == [Line(9600, "N", 1), Line(19200, "E", 1)]
    assert serial_lines(SHIPPED, "ascii", None) == [Line(38400, "E", 1)]


def test_an_ascii_device_is_only_looked_for_on_an_ascii_line() -> None:
    rtu = {p.name for p in scannable(SHIPPED, "rtu")}
    assert "abl_emh1" not in rtu and "eastron_sdm630" in rtu
    assert {p.name for p in scannable(SHIPPED, "ascii")} == {"abl_emh1"}


@pytest.mark.parametrize(
    ("text", "units"),
    [("1-3", [1, 2, 3]), ("5", [5]), ("1,3,10-11", [1, 3, 10, 11]), ("2,1-3", [2, 1, 3])],
)
def test_unit_ranges(text: str, units: list[int]) -> None:
    assert parse_units(text) == units


@pytest.mark.parametrize("text", ["0-256", "a", "5-3", "1,,2", "-1"])
def test_bad_unit_ranges_are_refused_with_the_part(text: str) -> None:
    with pytest.raises(ValueError, match="units:"):
        parse_units(text)


def test_time_left_follows_the_model_then_the_pace() -> None:
    assert estimate_left_s(0, 100, 0.0, 0.2) == pytest.approx(20.0)
    assert estimate_left_s(50, 100, 5.0, 0.2) == pytest.approx(5.0)
    assert estimate_left_s(100, 100, 9.0, 0.2) == 0.0


def test_only_reads_pass_the_guard() -> None:
    for table in ("coil", "discrete", "input", "holding"):
        request = pdu.read_request(table, 0, 1)
        assert read_only(request) == request
    for write in (
        pdu.write_register_request(1, 2),
        pdu.write_registers_request(1, [2]),
        pdu.write_coil_request(1, True),
    ):
        with pytest.raises(WriteRefused):
            read_only(write)


def test_a_signature_naming_an_unknown_point_is_refused(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "m.yaml"
    path.write_text(
        "kind: meter\nmodel: M\nsource: https://example.org/m.pdf\n"
        "transport: {framing: rtu}\n"
        "points: {voltage_l1: {table: input, address: 0}}\n"
        "identify: [{point: model_code, values: [1]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ProfileError, match="model_code"):
        load_profile_file(path)
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "{point: model_code, values: [1]}", "{point: voltage_l1}"
        ),
        encoding="utf-8",
    )
    with pytest.raises(ProfileError, match="give values, or min"):
        load_profile_file(path)


class _LossyChannel:
    """Answers input reads from ``words`` (0 elsewhere) and loses the replies numbered in
    ``lost``. Scripted, not the simulator: the test needs one reply lost at a chosen moment."""

    device_id = "unit 4 at 19200 8N1"

    def __init__(self, words: dict[int, int], lost: set[int]) -> None:
        self.words, self.lost, self.sent = words, lost, 0

    async def request(self, request: bytes) -> bytes:
        self.sent += 1
        if self.sent in self.lost:
            raise DeviceUnavailable(f"{self.device_id}: no answer (timeout)")
        fc, address, count = struct.unpack(">BHH", request)
        values = [self.words.get(address + i, 0) for i in range(count)]
        return bytes([fc, 2 * count]) + b"".join(v.to_bytes(2, "big") for v in values)


HEIDELBERG_WORDS = {4: 0x0108, 5: 2}  # layout 1.0.8, state A


async def _probe(channel: _LossyChannel) -> Match | None:
    probe = UnitProbe(cast(DeviceChannel, channel), Line(19200, "N", 1))
    sdm630 = load_profile("eastron_sdm630")
    assert evaluate(sdm630, await probe.values(sdm630)) is None  # answers, but is no SDM630
    heidelberg = load_profile("heidelberg_energy_control")
    return evaluate(heidelberg, await probe.values(heidelberg))


async def test_a_unit_that_answered_is_asked_again_when_one_reply_is_lost() -> None:
    # Request 3 is the Heidelberg's first read, after the SDM630's two: its reply is lost once.
    channel = _LossyChannel(HEIDELBERG_WORDS, lost={3})
    match = await _probe(channel)
    assert match is not None and match.profile == "heidelberg_energy_control"
    assert channel.sent == 4


async def test_a_reply_lost_twice_is_an_unknown_model_and_a_silent_unit_is_asked_once() -> None:
    assert await _probe(_LossyChannel(HEIDELBERG_WORDS, lost={3, 4})) is None
    silent = _LossyChannel({}, lost={1, 2})
    probe = UnitProbe(cast(DeviceChannel, silent), Line(19200, "N", 1))
    with pytest.raises(_Absent):
        await probe.values(load_profile("heidelberg_energy_control"))
    assert silent.sent == 1
