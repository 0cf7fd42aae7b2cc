"""Reading and writing the device model's variables on the one store the 1.6 keys use.

Each change is checked against the variable's type, range and list, and against the 1.6
key's own rule where the variable has a 1.6 key, so neither protocol can store what the
other would refuse. Values persist with the store (``OcppStateFile``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_controller.uplink.device_model.catalog import (
    ACTUAL,
    BOOLEAN,
    BOUNDS,
    DECIMAL,
    INTEGER,
    MAX_SET,
    MEMBER_LIST,
    MIN_SET,
    OPTION_LIST,
    READ_ONLY,
    WRITE_ONLY,
    Variable,
)
from edge_controller.uplink.device_model.tx_points import why_not_start_point, why_not_stop_point
from edge_controller.uplink.state_file import OcppStateFile
from edge_controller.uplink.v16 import config_keys
from edge_controller.uplink.v16.config_keys import TX_START_POINT_KEY, TX_STOP_POINT_KEY

ACCEPTED, REJECTED, REBOOT_REQUIRED = "Accepted", "Rejected", "RebootRequired"
UNKNOWN_COMPONENT, UNKNOWN_VARIABLE = "UnknownComponent", "UnknownVariable"
NOT_SUPPORTED_ATTRIBUTE = "NotSupportedAttributeType"
# Values a variable's type allows but the site cannot follow: why not (``Outcome.reason``).
SITE_RULES: dict[str, Callable[[str], str]] = {
    TX_START_POINT_KEY: why_not_start_point,
    TX_STOP_POINT_KEY: why_not_stop_point,
}


@dataclass(frozen=True, slots=True)
class Address:
    """A component and variable as a GetVariables/SetVariables item names them."""

    component: str
    variable: str
    evse: int | None = None
    connector: int | None = None
    component_instance: str | None = None
    variable_instance: str | None = None

    @classmethod
    def of(cls, item: dict[str, Any]) -> Address:
        component, variable = item["component"], item["variable"]
        evse = component.get("evse") or {}
        return cls(
            component["name"], variable["name"], evse.get("id"), evse.get("connectorId"),
            component.get("instance"), variable.get("instance"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    variable: Variable | None = None
    value: str | None = None
    reason: str = ""  # why a valid value is Rejected (the site cannot follow it)


def _is_decimal(text: str) -> bool:
    whole, _, fraction = text.partition(".")
    return _is_int(whole) and (fraction == "" or fraction.isdigit()) and len(text) <= 20


def _is_int(text: str) -> bool:
    body = text[1:] if text.startswith("-") else text
    return body.isdigit() and len(body) <= 10


def valid(variable: Variable, value: str) -> bool:
    """Whether ``value`` fits the variable's type, range and list (bounds aside)."""
    if variable.data_type == BOOLEAN:
        return value in ("true", "false")
    if variable.data_type == INTEGER:
        return _is_int(value) and _within(variable, int(value))
    if variable.data_type == DECIMAL:
        return _is_decimal(value)
    if variable.data_type == MEMBER_LIST:
        items = [v.strip() for v in value.split(",") if v.strip()]
        return len(set(items)) == len(items) and all(i in variable.values_list for i in items)
    if variable.data_type == OPTION_LIST:
        return value in variable.values_list
    return len(value) <= (variable.max_value or 2500)  # a string's maxLimit is its length


def _within(variable: Variable, number: int) -> bool:
    low, high = variable.min_value, variable.max_value
    return (low is None or number >= low) and (high is None or number <= high)


def within_bounds(store: OcppStateFile, key: str, value: str) -> bool:
    """Whether a 1.6 key's new value keeps to the MinSet/MaxSet a CSMS set on its 2.x
    variable (both protocols keep to the same bounds)."""
    low, high = store.get(f"{key}#{MIN_SET}") or "", store.get(f"{key}#{MAX_SET}") or ""
    if not (low or high) or not _is_int(value):
        return True
    return (not low or int(low) <= int(value)) and (not high or int(value) <= int(high))


class DeviceModel:
    def __init__(
        self,
        store: OcppStateFile,
        variables: Iterable[Variable],
        readings: Mapping[Variable, Callable[[], str]] | None = None,
    ) -> None:
        """``readings``: read-only variables whose value is read live (a count...)."""
        self.store = store
        self.variables = list(variables)
        self.readings = dict(readings or {})

    def find(self, address: Address) -> Outcome:
        """The variable named (status Accepted), or why there is none."""
        component = [
            v for v in self.variables
            if v.component == address.component and address.component_instance is None
            and v.evse == address.evse and v.connector == address.connector
        ]  # fmt: skip
        if not component:
            return Outcome(UNKNOWN_COMPONENT)
        for variable in component:
            if (variable.name, variable.instance) == (address.variable, address.variable_instance):
                return Outcome(ACCEPTED, variable)
        return Outcome(UNKNOWN_VARIABLE)

    def value(self, variable: Variable, attribute: str = ACTUAL) -> str:
        if attribute in BOUNDS:
            stored = self.store.get(variable.bound_key(attribute)) or ""
            limit = variable.min_value if attribute == MIN_SET else variable.max_value
            return stored or ("" if limit is None else str(limit))
        reading = self.readings.get(variable)
        if reading is not None:
            return reading()
        if variable.key is None:
            return variable.fixed
        return self.store.get(variable.key) or ""

    def get(self, address: Address, attribute: str = ACTUAL) -> Outcome:
        found = self.find(address)
        if found.variable is None:
            return found
        if attribute not in found.variable.attributes():
            return Outcome(NOT_SUPPORTED_ATTRIBUTE, found.variable)
        if found.variable.mutability == WRITE_ONLY:
            return Outcome(REJECTED, found.variable)  # a password is never told
        return Outcome(ACCEPTED, found.variable, self.value(found.variable, attribute))

    def check(self, address: Address, attribute: str, value: str) -> Outcome:
        """Whether a change may be made (Accepted or RebootRequired), without making it."""
        found = self.find(address)
        variable = found.variable
        if variable is None:
            return found
        if attribute not in variable.attributes():
            return Outcome(NOT_SUPPORTED_ATTRIBUTE, variable)
        if variable.mutability == READ_ONLY or variable.key is None:
            return Outcome(REJECTED, variable)
        if not self._allowed(variable, attribute, value):
            return Outcome(REJECTED, variable)
        rule = SITE_RULES.get(variable.key)
        why = "" if rule is None else rule(value)
        if why:
            return Outcome(REJECTED, variable, reason=why)
        return Outcome(REBOOT_REQUIRED if variable.reboot else ACCEPTED, variable, value)

    def _allowed(self, variable: Variable, attribute: str, value: str) -> bool:
        if not valid(variable, value):
            return False
        if attribute in BOUNDS:
            low = int(value) if attribute == MIN_SET else int(self.value(variable, MIN_SET))
            high = int(value) if attribute == MAX_SET else int(self.value(variable, MAX_SET))
            return low <= high
        key = variable.key or ""
        if key in config_keys.SPECS and config_keys.change_status(key, value) != ACCEPTED:
            return False
        if variable.data_type == INTEGER:
            low, high = int(self.value(variable, MIN_SET)), int(self.value(variable, MAX_SET))
            return low <= int(value) <= high
        return True

    def store_value(self, variable: Variable, attribute: str, value: str) -> None:
        """Keep a checked change (``check``) in the store."""
        key = variable.bound_key(attribute) if attribute in BOUNDS else variable.key
        if key is not None and self.store.get(key) != value:
            self.store.set(key, value)
