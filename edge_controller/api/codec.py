"""SiteView ⇄ JSON. The status API and the `status` command speak this shape: the view's field
names (units in them), per-phase values as [L1, L2, L3] lists, times as UTC Unix seconds."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from edge_controller.domain.snapshot import (
    Availability,
    ConnectorView,
    DeviceView,
    SiteView,
)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def site_to_json(view: SiteView) -> dict[str, Any]:
    return {f.name: _plain(getattr(view, f.name)) for f in dataclasses.fields(view)} | {
        "connectors": [_dataclass_json(c) for c in view.connectors],
        "devices": [_dataclass_json(d) for d in view.devices],
    }


def _dataclass_json(item: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)}


def _phases(value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    a, b, c = (float(v) for v in value)
    return (a, b, c)


def site_from_json(data: dict[str, Any]) -> SiteView:
    connectors = tuple(
        ConnectorView(
            **(
                c
                | {
                    "availability": Availability(c["availability"]),
                    "measured_current_a": _phases(c["measured_current_a"]),
                }
            )
        )
        for c in data["connectors"]
    )
    devices = tuple(DeviceView(**d) for d in data["devices"])
    return SiteView(
        **(
            data
            | {
                "connectors": connectors,
                "devices": devices,
                "grid_current_a": _phases(data["grid_current_a"]),
                "headroom_a": _phases(data["headroom_a"]),
                "grid_voltage_v": _phases(data["grid_voltage_v"]),
                "waiting_for": tuple(data["waiting_for"]),
            }
        )
    )
