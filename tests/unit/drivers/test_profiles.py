"""Every shipped profile loads, cites a source, and maps vendor states; schema rejects mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.domain.model import CpState
from edge_controller.drivers.modbus.charger import cp_state
from edge_controller.drivers.profiles.schema import ProfileError, load_profile, load_profile_file
from edge_controller.drivers.registry import profile_kinds

SHIPPED = {
    "heidelberg_energy_control": "charger",
    "phoenix_em_cp_pp_eth": "charger",
    "phoenix_charx_sec3xxx": "charger",
    "keba_kecontact_p30": "charger",
    "abl_emh1": "charger",
    "eastron_sdm630": "meter",
    "eastron_sdm72d": "meter",
    "abb_b23": "meter",
    "carlo_gavazzi_em24": "meter",
    "generic_meter": "meter",
}


def test_registry_lists_every_shipped_profile_with_its_kind() -> None:
    assert profile_kinds() == SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_profile_loads_and_cites_a_public_source(name: str) -> None:
    profile = load_profile(name)
    assert profile.kind == SHIPPED[name]
    assert profile.source.startswith("https://")


def test_heidelberg_states_map_to_iec_61851() -> None:
    status = load_profile("heidelberg_energy_control").status
    assert status is not None
    assert cp_state(status, 2, None) == (CpState.A, None)
    assert cp_state(status, 5, None) == (CpState.B, None)
    assert cp_state(status, 7, None) == (CpState.C, None)
    state, fault = cp_state(status, 11, None)
    assert state is CpState.F and fault == "charger error"
    state, fault = cp_state(status, 42, None)
    assert state is CpState.F and fault == "unknown status code 42"


def test_keba_plug_state_forces_a_when_no_ev_is_connected() -> None:
    status = load_profile("keba_kecontact_p30").status
    assert status is not None
    assert cp_state(status, 2, 1)[0] is CpState.A  # ready, cable only at the station
    assert cp_state(status, 2, 7)[0] is CpState.B
    assert cp_state(status, 3, 7)[0] is CpState.C


def test_charx_connectors_are_1000_registers_apart() -> None:
    profile = load_profile("phoenix_charx_sec3xxx")
    state = profile.points["state"]
    assert [profile.address_of(state, n) for n in (1, 2, 3)] == [1299, 2299, 3299]


def test_schema_rejects_a_charger_without_setpoint(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "kind: charger\nmodel: x\nsource: https://example.org/x\n"
        "transport: {framing: tcp}\npoints:\n  state: {table: input, address: 1}\n"
        "status: {states: {1: A}}\n"
    )
    with pytest.raises(ProfileError, match="set_current"):
        load_profile_file(path)


def test_schema_rejects_writable_input_register(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "kind: meter\nmodel: x\nsource: https://example.org/x\ntransport: {framing: rtu}\n"
        "points:\n  power_total: {table: input, address: 1, writable: true}\n"
    )
    with pytest.raises(ProfileError, match="cannot be writable"):
        load_profile_file(path)


def test_unknown_profile_name_is_a_clear_error() -> None:
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profile("no_such_device")
