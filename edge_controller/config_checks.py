"""Checks across sections that a single typed model cannot see: references and bus addressing.

They work on plain data (the merged YAML + environment) and tolerate wrong types, so they can run
even when type validation failed and every problem is reported in one go.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_controller.config_yaml import PathKey

RTU_BUS_TYPES = ("rtu", "rtu_over_tcp")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def connector_refs(chargers: Mapping[str, Any]) -> set[str]:
    """Valid connector references: ``charger:n`` for every connector, and ``charger`` alone."""
    refs: set[str] = set()
    for charger_id, charger in chargers.items():
        count = _mapping(charger).get("connectors", 1)
        count = count if isinstance(count, int) and count > 0 else 1
        refs.add(charger_id)
        refs.update(f"{charger_id}:{n}" for n in range(1, count + 1))
    return refs


def _device_checks(
    data: Mapping[str, Any], profiles: Mapping[str, str] | None
) -> list[tuple[PathKey, str]]:
    problems: list[tuple[PathKey, str]] = []
    buses = _mapping(data.get("buses"))
    taken: dict[tuple[str, Any], str] = {}
    for section, kind in (("chargers", "charger"), ("meters", "meter")):
        for device_id, raw_device in _mapping(data.get(section)).items():
            device = _mapping(raw_device)
            path: PathKey = (section, device_id)
            bus_name, unit_id, profile = (
                device.get("bus"),
                device.get("unit_id"),
                device.get("profile"),
            )
            if isinstance(unit_id, str) and unit_id.isdigit():
                unit_id = int(unit_id)  # "010" from the YAML reader is read as decimal 10
            if isinstance(bus_name, str) and bus_name not in buses:
                known = ", ".join(sorted(buses)) or "none defined"
                problems.append(
                    ((*path, "bus"), f"bus '{bus_name}' is not defined (buses: {known})")
                )
            bus = _mapping(buses.get(bus_name)) if isinstance(bus_name, str) else {}
            if (
                isinstance(unit_id, int)
                and bus.get("type") in RTU_BUS_TYPES
                and not 1 <= unit_id <= 247
            ):
                problems.append(((*path, "unit_id"), "on a serial bus the unit id must be 1..247"))
            if isinstance(unit_id, int) and isinstance(bus_name, str):
                other = taken.setdefault((bus_name, unit_id), f"{section}.{device_id}")
                if other != f"{section}.{device_id}":
                    problems.append(
                        (
                            (*path, "unit_id"),
                            f"unit id {unit_id} on bus '{bus_name}' is already used by {other}",
                        )
                    )
            if profiles is not None and isinstance(profile, str):
                if profile not in profiles:
                    known = ", ".join(sorted(n for n, k in profiles.items() if k == kind)) or "none"
                    problems.append(
                        (
                            (*path, "profile"),
                            f"unknown device profile '{profile}' (known {kind} profiles: {known})",
                        )
                    )
                elif profiles[profile] != kind:
                    problems.append(
                        (
                            (*path, "profile"),
                            f"profile '{profile}' describes a {profiles[profile]}, not a {kind}",
                        )
                    )
    return problems


def _link_checks(data: Mapping[str, Any]) -> list[tuple[PathKey, str]]:
    problems: list[tuple[PathKey, str]] = []
    chargers = _mapping(data.get("chargers"))
    refs = connector_refs(chargers)
    feeders = _mapping(_mapping(data.get("site")).get("feeders"))
    for charger_id, charger in chargers.items():
        feeder = _mapping(charger).get("feeder")
        if isinstance(feeder, str) and feeder not in feeders:
            problems.append(
                (
                    ("chargers", charger_id, "feeder"),
                    f"feeder '{feeder}' is not defined under site.feeders",
                )
            )
    for feeder_id, feeder in feeders.items():
        parent = _mapping(feeder).get("parent")
        if isinstance(parent, str) and parent not in feeders:
            problems.append(
                (("site", "feeders", feeder_id, "parent"), f"feeder '{parent}' is not defined")
            )
    for meter_id, raw_meter in _mapping(data.get("meters")).items():
        meter = _mapping(raw_meter)
        if meter.get("role") == "connector" and not meter.get("connector"):
            problems.append(
                (("meters", meter_id, "connector"), "a connector meter must name its connector")
            )
        connector = meter.get("connector")
        if isinstance(connector, str) and connector not in refs:
            problems.append(
                (("meters", meter_id, "connector"), f"connector '{connector}' does not exist")
            )
        feeder = meter.get("feeder")
        if isinstance(feeder, str) and feeder not in feeders:
            problems.append((("meters", meter_id, "feeder"), f"feeder '{feeder}' is not defined"))
    for reader_id, reader in _mapping(data.get("readers")).items():
        connectors = _mapping(reader).get("connectors")
        for index, ref in enumerate(connectors if isinstance(connectors, list) else []):
            if isinstance(ref, str) and ref not in refs:
                problems.append(
                    (
                        ("readers", reader_id, "connectors", index),
                        f"connector '{ref}' does not exist",
                    )
                )
    return problems


def check_references(
    data: Mapping[str, Any], profiles: Mapping[str, str] | None
) -> list[tuple[PathKey, str]]:
    """Every cross-section problem in ``data``; ``profiles`` maps profile name → device kind."""
    return _device_checks(data, profiles) + _link_checks(data)
