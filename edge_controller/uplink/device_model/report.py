"""NotifyReport's reportData for the device model, and its chunks. Pure but for the values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from edge_controller.uplink.device_model.catalog import READ_WRITE, WRITE_ONLY, Variable
from edge_controller.uplink.device_model.store import DeviceModel

ITEMS_PER_REPORT = 20  # reportData items per NotifyReport
FULL, CONFIGURATION, SUMMARY = "FullInventory", "ConfigurationInventory", "SummaryInventory"
# What a summary names: whether the station and each EVSE and connector is available.
_SUMMARY_COMPONENTS = frozenset({"ChargingStation", "EVSE", "Connector"})


def component_of(variable: Variable) -> dict[str, Any]:
    found: dict[str, Any] = {"name": variable.component}
    if variable.evse is not None:
        evse: dict[str, Any] = {"id": variable.evse}
        if variable.connector is not None:
            evse["connectorId"] = variable.connector
        found["evse"] = evse
    return found


def variable_of(variable: Variable) -> dict[str, Any]:
    found: dict[str, Any] = {"name": variable.name}
    if variable.instance is not None:
        found["instance"] = variable.instance
    return found


def _characteristics(variable: Variable) -> dict[str, Any]:
    found: dict[str, Any] = {"dataType": variable.data_type, "supportsMonitoring": False}
    if variable.unit is not None:
        found["unit"] = variable.unit
    if variable.min_value is not None:
        found["minLimit"] = variable.min_value
    if variable.max_value is not None:
        found["maxLimit"] = variable.max_value
    if variable.values_list:
        found["valuesList"] = ",".join(variable.values_list)
    return found


def item(model: DeviceModel, variable: Variable) -> dict[str, Any]:
    attributes = [
        {
            "type": kind,
            "value": model.value(variable, kind),
            "mutability": variable.mutability,
            "persistent": True,
            "constant": variable.key is None,
        }
        for kind in variable.attributes()
    ]
    if variable.mutability == WRITE_ONLY:  # a password: named, its value never told
        for attribute in attributes:
            del attribute["value"]
            attribute["constant"] = False
    return {
        "component": component_of(variable),
        "variable": variable_of(variable),
        "variableAttribute": attributes,
        "variableCharacteristics": _characteristics(variable),
    }


def base_report(model: DeviceModel, kind: str) -> list[dict[str, Any]]:
    """The reportData of a GetBaseReport of ``kind``."""
    if kind == CONFIGURATION:
        chosen = [v for v in model.variables if v.mutability == READ_WRITE]
    elif kind == SUMMARY:
        chosen = [v for v in model.variables if v.component in _SUMMARY_COMPONENTS]
    else:
        chosen = list(model.variables)
    return [item(model, v) for v in chosen]


def _named(variable: Variable, wanted: dict[str, Any]) -> bool:
    component, named = wanted["component"], wanted.get("variable")
    evse = component.get("evse") or {}
    if component["name"] != variable.component or "instance" in component:
        return False
    if "id" in evse and evse["id"] != variable.evse:
        return False
    if "connectorId" in evse and evse["connectorId"] != variable.connector:
        return False
    return named is None or (
        named["name"] == variable.name and named.get("instance") == variable.instance
    )


def _meets(model: DeviceModel, variable: Variable, criteria: list[str]) -> bool:
    """Every component here is available and active; one with Enabled false is not enabled;
    none reports a problem."""
    if not criteria or {"Active", "Available"} & set(criteria):
        return True
    if "Enabled" in criteria:
        return not any(
            v.component == variable.component and v.evse == variable.evse
            and v.name == "Enabled" and model.value(v) == "false"
            for v in model.variables
        )  # fmt: skip
    return False


def custom_report(model: DeviceModel, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The reportData of a GetReport: the variables named (all when none), of components
    meeting the criteria."""
    named = payload.get("componentVariable") or []
    criteria = list(payload.get("componentCriteria") or [])
    return [
        item(model, v)
        for v in model.variables
        if (not named or any(_named(v, w) for w in named)) and _meets(model, v, criteria)
    ]


def chunks(
    request_id: int, generated_at: str, data: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """The NotifyReport payloads carrying ``data``: ``seqNo`` from 0, ``tbc`` on all but the
    last."""
    parts = [data[i : i + ITEMS_PER_REPORT] for i in range(0, len(data), ITEMS_PER_REPORT)]
    for seq_no, part in enumerate(parts):
        yield {
            "requestId": request_id,
            "generatedAt": generated_at,
            "tbc": seq_no < len(parts) - 1,
            "seqNo": seq_no,
            "reportData": part,
        }
