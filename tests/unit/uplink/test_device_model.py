"""The device model's value checks (pure) and its reading of the one store."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.config.settings import OcppSettings
from edge_controller.uplink.device_model import DeviceModel, bound_defaults, station_variables
from edge_controller.uplink.device_model.catalog import (
    CONNECTION_ATTEMPTS_KEY,
    ORGANIZATION_KEY,
    TX_START_POINT_KEY,
    TX_STOP_POINT_KEY,
)
from edge_controller.uplink.device_model.store import Address, valid
from edge_controller.uplink.state_file import OcppStateFile
from edge_controller.uplink.v16 import config_keys
from edge_controller.uplink.v16.config_keys import MASTER_PASS_KEY

SETTINGS = OcppSettings()
VARIABLES = station_variables(SETTINGS, "site1", 2, smart=False)


def _named(component: str, name: str) -> object:
    return next(v for v in VARIABLES if (v.component, v.name) == (component, name))


@pytest.mark.parametrize(
    ("component", "name", "value", "ok"),
    [
        ("AuthCtrlr", "LocalPreAuthorize", "true", True),
        ("AuthCtrlr", "LocalPreAuthorize", "True", False),  # 2.x booleans are lower case
        ("AuthCtrlr", "LocalPreAuthorize", "1", False),
        ("TxCtrlr", "EVConnectionTimeOut", "600", True),
        ("TxCtrlr", "EVConnectionTimeOut", "601", False),
        ("TxCtrlr", "EVConnectionTimeOut", "-5", False),
        ("TxCtrlr", "EVConnectionTimeOut", "5.0", False),
        ("SampledDataCtrlr", "TxUpdatedMeasurands", "Voltage,SoC", True),
        ("SampledDataCtrlr", "TxUpdatedMeasurands", "", True),
        ("SampledDataCtrlr", "TxUpdatedMeasurands", "Voltage,Voltage", False),
        ("SampledDataCtrlr", "TxUpdatedMeasurands", "Frequency", False),
        ("SampledDataCtrlr", "TxEndedMeasurands", "Power.Active.Import", False),
    ],
)
def test_values_are_checked_by_type_range_and_list(
    component: str, name: str, value: str, ok: bool
) -> None:
    assert valid(_named(component, name), value) is ok  # type: ignore[arg-type]


TWO_X_ONLY = {
    ORGANIZATION_KEY,
    CONNECTION_ATTEMPTS_KEY,
    MASTER_PASS_KEY,
    TX_START_POINT_KEY,
    TX_STOP_POINT_KEY,
}  # no 1.6 key holds them


def test_every_key_is_a_1_6_key_and_every_writable_one_writable_there() -> None:
    for variable in VARIABLES:
        if variable.key is not None and variable.key not in TWO_X_ONLY:
            spec = config_keys.SPECS[variable.key]
            assert spec.readonly is (variable.mutability == "ReadOnly"), variable


def test_a_string_with_a_max_limit_keeps_to_that_length() -> None:
    (master,) = [v for v in VARIABLES if v.key == MASTER_PASS_KEY]
    assert (master.component, master.name, master.mutability) == (
        "AuthCtrlr", "MasterPassGroupId", "ReadWrite",
    )  # fmt: skip
    assert valid(master, "G" * 36) and valid(master, "")
    assert not valid(master, "G" * 37)


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("TxStartPoint", "PowerPathClosed", ""),
        ("TxStartPoint", " PowerPathClosed ", ""),
        ("TxStartPoint", "EVConnected", ""),
        ("TxStartPoint", "PowerPathClosed,EVConnected", ""),  # the plug-in comes first
        ("TxStartPoint", "Authorized", ""),
        ("TxStartPoint", "Authorized,EVConnected", ""),  # at the first of the two
        ("TxStartPoint", "Authorized,DataSigned", "not supported: a session starts when it is"),
        ("TxStartPoint", "EnergyTransfer", "not supported"),
        ("TxStartPoint", "", "not supported"),
        ("TxStopPoint", "EVConnected,Authorized", ""),
        ("TxStopPoint", "Authorized,EVConnected", ""),
        ("TxStopPoint", "PowerPathClosed", ""),
        ("TxStopPoint", "EVConnected,PowerPathClosed", ""),
        ("TxStopPoint", "EVConnected", ""),  # the transaction outlives a session stopped
        ("TxStopPoint", "Authorized", ""),  # the transaction outlives a session's limit
        ("TxStopPoint", "", "not supported: a session ends when the EV leaves or"),
        ("TxStopPoint", "EVConnected,EnergyTransfer", ""),  # the energy stops at either
        ("TxStopPoint", "EnergyTransfer", ""),
        ("TxStopPoint", "EnergyTransfer,DataSigned", "DataSigned not supported"),
        ("TxStopPoint", "ParkingBayOccupancy,DataSigned", "DataSigned, ParkingBayOccupancy not"),
    ],
)
def test_the_transaction_points_take_the_lists_meaning_what_the_session_side_does(
    tmp_path: Path, name: str, value: str, why: str
) -> None:
    """A session starts when it is authorised and plugged in, whichever comes last (the
    session side's tests), which 2.0.1 calls PowerPathClosed; it ends when either is lost.
    Any other list is Rejected with why, and the stored value stays."""
    store = OcppStateFile(tmp_path / "state.json", bound_defaults(VARIABLES))
    model = DeviceModel(store, VARIABLES)
    address = Address("TxCtrlr", name)
    before = model.get(address).value
    assert (
        before == {"TxStartPoint": "PowerPathClosed", "TxStopPoint": "EVConnected,Authorized"}[name]
    )
    checked = model.check(address, "Actual", value.strip())
    assert checked.status == ("Rejected" if why else "Accepted")
    assert why in checked.reason and bool(checked.reason) is bool(why)
    if checked.variable is not None and checked.status == "Accepted":
        model.store_value(checked.variable, "Actual", value.strip())
    again = DeviceModel(
        OcppStateFile(tmp_path / "state.json", bound_defaults(VARIABLES)), VARIABLES
    )
    assert again.get(address).value == (before if why else value.strip())


def test_a_transaction_point_outside_the_2_0_1_list_is_refused_by_type(tmp_path: Path) -> None:
    store = OcppStateFile(tmp_path / "state.json", bound_defaults(VARIABLES))
    refused = DeviceModel(store, VARIABLES).check(Address("TxCtrlr", "TxStopPoint"), "Actual", "X")
    assert (refused.status, refused.reason) == ("Rejected", "")


def test_a_change_on_either_side_reads_back_on_the_other(tmp_path: Path) -> None:
    defaults = config_keys.defaults(SETTINGS, 2) | bound_defaults(VARIABLES)
    store = OcppStateFile(tmp_path / "state.json", defaults)
    model = DeviceModel(store, VARIABLES)
    address = Address("AuthCacheCtrlr", "Enabled")
    checked = model.check(address, "Actual", "false")
    assert checked.status == "Accepted" and checked.variable is not None
    model.store_value(checked.variable, "Actual", "false")
    store.set("MeterValueSampleInterval", "42")
    again = DeviceModel(OcppStateFile(tmp_path / "state.json", defaults), VARIABLES)
    assert again.store.get("AuthorizationCacheEnabled") == "false"
    assert again.get(Address("SampledDataCtrlr", "TxUpdatedInterval")).value == "42"
