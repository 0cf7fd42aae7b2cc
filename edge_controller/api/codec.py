"""SiteView ⇄ JSON. The status API and the `status` command speak this shape: the view's field
names (units in them), per-phase values as [L1, L2, L3] lists, times as UTC Unix seconds."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any, TypeVar

from edge_controller.domain.snapshot import (
    Availability,
    ChildView,
    ConnectorView,
    DeviceView,
    GatewayFault,
    SiteView,
)


def _plain(value: Any) -> Any:
    """``value`` as JSON values: dataclasses as objects of every field, enums by value, tuples
    as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def site_to_json(view: SiteView) -> dict[str, Any]:
    shown: dict[str, Any] = _plain(view)
    return shown


def _phases(value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    a, b, c = (float(v) for v in value)
    return (a, b, c)


T = TypeVar("T")


def _read(cls: Callable[..., T], data: dict[str, Any], **convert: Callable[[Any], Any]) -> T:
    """``cls`` made from a JSON object: each field as given, or through its converter."""
    return cls(**{name: convert[name](v) if name in convert else v for name, v in data.items()})


def _connector(data: dict[str, Any]) -> ConnectorView:
    return _read(ConnectorView, data, availability=Availability, measured_current_a=_phases)


def site_from_json(data: dict[str, Any]) -> SiteView:
    return _read(
        SiteView, data,
        connectors=lambda items: tuple(_connector(c) for c in items),
        devices=lambda items: tuple(_read(DeviceView, d) for d in items),
        grid_current_a=_phases, headroom_a=_phases, grid_voltage_v=_phases, waiting_for=tuple,
        allocation_notes=tuple,
        gateway_faults=lambda items: tuple(_read(GatewayFault, g) for g in items),
        gateway_children=lambda items: tuple(_child(c) for c in items),
    )  # fmt: skip


def _child(data: dict[str, Any]) -> ChildView:
    return _read(ChildView, data, budget_a=_phases, counted_a=_phases)
