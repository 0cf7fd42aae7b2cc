"""Checks across sections that a single typed model cannot see.

References and bus addressing work on plain data (the merged YAML + environment) and tolerate
wrong types, so they can run even when type validation failed and every problem is reported in
one go. ``check_settings`` then looks at a valid typed config for values that pass every range
check alone but cannot work together (a grid limit below a charger's minimum current) or may not
be what the installer meant (warnings).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_controller.config.gateway_checks import gateway_checks
from edge_controller.config.settings import Settings
from edge_controller.config.yaml_reader import PathKey
from edge_controller.domain.balancing import (
    ConnectorDemand,
    DemandState,
    Feeder,
    Policy,
    Site,
    failsafe_problems,
    wiring_from_rotation,
)
from edge_controller.domain.model import IEC_MIN_CURRENT_A

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
    problems += _payment_links(data, refs)
    tariffs = _mapping(_mapping(data.get("tariffs")).get("connectors"))
    for ref in tariffs:
        if ref not in refs:
            problems.append((("tariffs", "connectors", ref), f"connector '{ref}' does not exist"))
    return problems


def _payment_links(data: Mapping[str, Any], refs: set[str]) -> list[tuple[PathKey, str]]:
    """Each connector exists and is served by one terminal (the driver must know where to pay)."""
    problems: list[tuple[PathKey, str]] = []
    served: dict[str, str] = {}
    for terminal_id, terminal in _mapping(_mapping(data.get("payments")).get("terminals")).items():
        connectors = _mapping(terminal).get("connectors")
        for index, ref in enumerate(connectors if isinstance(connectors, list) else []):
            where = ("payments", "terminals", terminal_id, "connectors", index)
            if isinstance(ref, str) and ref not in refs:
                problems.append((where, f"connector '{ref}' does not exist"))
            elif isinstance(ref, str) and ref in served:
                problems.append((where, f"connector '{ref}' is already served by {served[ref]}"))
            elif isinstance(ref, str):
                served[ref] = str(terminal_id)
                problems += _unpriced(data, ref, where)
    return problems


def _unpriced(data: Mapping[str, Any], ref: str, where: PathKey) -> list[tuple[PathKey, str]]:
    """A card paid session on a connector without a tariff would never be priced, so never
    captured: its pre-authorisation would stay open on the card."""
    tariffs = _mapping(data.get("tariffs"))
    priced = _mapping(tariffs.get("connectors"))
    if tariffs.get("default") is not None or ref in priced or ref.rsplit(":", 1)[0] in priced:
        return []
    reason = (
        f"connector '{ref}' has no tariff (tariffs.default or tariffs.connectors.{ref}):"
        " a card payment there could never be captured"
    )
    return [(where, reason)]


def check_references(
    data: Mapping[str, Any], profiles: Mapping[str, str] | None
) -> list[tuple[PathKey, str]]:
    """Every cross-section problem in ``data``; ``profiles`` maps profile name → device kind."""
    return _device_checks(data, profiles) + _link_checks(data)


# --- Values that pass every range check alone but cannot work together -----------------------

Problem = tuple[PathKey, str]


@dataclass
class Findings:
    """What a typed config cannot do (errors: refuse to start) or may not mean (warnings)."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def _feeder_cycles(settings: Settings, out: Findings) -> None:
    for feeder_id in settings.site.feeders:
        seen = [feeder_id]
        parent = settings.site.feeders[feeder_id].parent
        while parent is not None and parent in settings.site.feeders and parent not in seen:
            seen.append(parent)
            parent = settings.site.feeders[parent].parent
        if parent == feeder_id:
            loop = " → ".join([*seen, feeder_id])
            out.errors.append(
                (("site", "feeders", feeder_id, "parent"), f"feeders form a cycle: {loop}")
            )


def _too_small_for(limit_a: float, chargers: dict[str, float]) -> str | None:
    """The chargers (id → minimum current) that ``limit_a`` can never feed, as text."""
    starved = [f"chargers.{cid} ({a:g} A)" for cid, a in chargers.items() if a > limit_a]
    return ", ".join(starved) or None


def _limit_checks(settings: Settings, out: Findings) -> None:
    site = settings.site
    minimum = {cid: c.min_current_a for cid, c in settings.chargers.items()}
    starved = _too_small_for(site.grid_limit_a, minimum)
    if starved:
        out.errors.append(
            (
                ("site", "grid_limit_a"),
                f"{site.grid_limit_a:g} A is below the minimum current of {starved}:"
                " it could never charge",
            )
        )
    least_w = min(minimum.values(), default=IEC_MIN_CURRENT_A) * site.nominal_voltage_v
    if site.power_limit_w is not None and site.power_limit_w < least_w:
        out.errors.append(
            (
                ("site", "power_limit_w"),
                f"{site.power_limit_w:g} W is less than one connector needs at its minimum"
                f" current on one phase ({least_w:g} W): nothing could ever charge",
            )
        )
    for feeder_id, feeder in site.feeders.items():
        path: PathKey = ("site", "feeders", feeder_id, "limit_a")
        below = {
            cid: c.min_current_a
            for cid, c in settings.chargers.items()
            if feeder_id in settings.site.feeder_chain(c.feeder)
        }
        if feeder.limit_a < IEC_MIN_CURRENT_A:
            out.errors.append(
                (
                    path,
                    f"{feeder.limit_a:g} A is below {IEC_MIN_CURRENT_A:g} A, the least current an"
                    " EV can be offered (IEC 61851): nothing on this feeder could charge",
                )
            )
        elif starved := _too_small_for(feeder.limit_a, below):
            out.errors.append(
                (path, f"{feeder.limit_a:g} A is below the minimum current of {starved}")
            )
    _feeder_cycles(settings, out)


def _charger_checks(settings: Settings, out: Findings) -> None:
    for cid, c in settings.chargers.items():
        base: PathKey = ("chargers", cid)
        if c.min_current_a > c.max_current_a:
            out.errors.append(
                (
                    (*base, "min_current_a"),
                    f"{c.min_current_a:g} A is above max_current_a ({c.max_current_a:g} A)",
                )
            )
        if 0 < c.failsafe_current_a < IEC_MIN_CURRENT_A:
            out.errors.append(
                (
                    (*base, "failsafe_current_a"),
                    f"must be 0 or at least {IEC_MIN_CURRENT_A:g} A (the IEC 61851 minimum)",
                )
            )
        elif c.failsafe_current_a > c.max_current_a:
            out.errors.append(
                (
                    (*base, "failsafe_current_a"),
                    f"{c.failsafe_current_a:g} A is above max_current_a ({c.max_current_a:g} A):"
                    " without the controller the charger would offer more than it may",
                )
            )
        _write_interval_check(settings, cid, out)
    fallback_a = settings.site.fallback_current_a
    minimum = {cid: c.min_current_a for cid, c in settings.chargers.items()}
    if fallback_a > 0 and (starved := _too_small_for(fallback_a, minimum)):
        out.warnings.append(
            (
                ("site", "fallback_current_a"),
                f"{fallback_a:g} A is below the minimum current of {starved}:"
                " they pause while the grid meter is stale",
            )
        )


def _write_interval_check(settings: Settings, cid: str, out: Findings) -> None:
    """The control loop refreshes a setpoint after a third of the failsafe timeout, at its next
    tick; a write may take the bus's whole timeout and retries."""
    charger = settings.chargers[cid]
    bus = settings.buses.get(charger.bus)
    io_s = bus.timeout_s * (bus.retries + 1) if bus is not None else 0.0
    needed_s = charger.failsafe_timeout_s / 3 + settings.site.tick_s + io_s
    if needed_s >= charger.failsafe_timeout_s:
        out.warnings.append(
            (
                ("chargers", cid, "failsafe_timeout_s"),
                f"{charger.failsafe_timeout_s:g} s is too short: a refresh comes after"
                f" {needed_s:.3g} s at worst (a third of it, site.tick_s {settings.site.tick_s:g} s"
                f" and {io_s:g} s of bus timeouts); the charger may fall back between writes",
            )
        )


def _reading_age_checks(settings: Settings, out: Findings) -> None:
    for mid, meter in settings.meters.items():
        path: PathKey = ("meters", mid, "poll_interval_s")
        if meter.poll_interval_s >= meter.max_age_s:
            out.errors.append(
                (
                    path,
                    f"{meter.poll_interval_s:g} s is not shorter than max_age_s"
                    f" ({meter.max_age_s:g} s): each reading would be stale before the next",
                )
            )
        stale_s = settings.site.grid_stale_s
        if meter.role == "grid" and meter.poll_interval_s >= stale_s:
            out.errors.append(
                (
                    path,
                    f"{meter.poll_interval_s:g} s is not shorter than site.grid_stale_s"
                    f" ({stale_s:g} s): the site would run on the fallback current",
                )
            )


def _fallback_checks(settings: Settings, out: Findings) -> None:
    site = settings.site
    if settings.chargers and site.assumed_building_load_a >= site.grid_limit_a:
        out.warnings.append(
            (
                ("site", "assumed_building_load_a"),
                f"{site.assumed_building_load_a:g} A is not below grid_limit_a"
                f" ({site.grid_limit_a:g} A): nothing charges while the grid meter is stale",
            )
        )
    cycle = any(problem[0][:2] == ("site", "feeders") for problem in out.errors)
    known = (None, *site.feeders)
    unknown = any(c.feeder not in known for c in settings.chargers.values()) or any(
        f.parent not in known for f in site.feeders.values()
    )
    if cycle or unknown:
        return  # no limit tree to check (reported as an error already)
    tree = Site(
        grid_limit_a=site.grid_limit_a,
        feeders=tuple(Feeder(fid, f.limit_a, f.parent) for fid, f in site.feeders.items()),
        power_limit_w=site.power_limit_w,
        nominal_voltage_v=site.nominal_voltage_v,
    )
    demands, failsafe = [], {}
    for cid, c in settings.chargers.items():
        for n in range(1, c.connectors + 1):
            connector = f"{cid}:{n}"
            wiring = wiring_from_rotation(c.phase_rotation)
            demands.append(ConnectorDemand(connector, DemandState.IDLE, wiring, c.feeder))
            failsafe[connector] = c.failsafe_current_a
    policy = Policy(
        fallback_current_a=site.fallback_current_a,
        assumed_building_load_a=site.assumed_building_load_a,
    )
    for problem in failsafe_problems(tree, demands, failsafe, policy):
        out.warnings.append(
            (
                ("site", "grid_limit_a"),
                "if the controller stops (or the grid meter is lost) every connector falls back"
                f" to its failsafe (or fallback) current, exceeding {problem}",
            )
        )


def _secret_files(settings: Settings) -> list[tuple[PathKey, Path]]:
    found: list[tuple[PathKey, Path]] = []
    for section in ("ocpp", "mqtt"):
        model = getattr(settings, section)
        for key in ("password_file", "client_key_file"):
            path = getattr(model, key)
            if path is not None:
                found.append(((section, key), path))
    web = settings.web
    if web.tls_key_file is not None:
        found.append((("web", "tls_key_file"), web.tls_key_file))
    for name, account in web.accounts.items():
        found.append((("web", "accounts", name, "password_hash_file"), account.password_hash_file))
    for name, token in web.api_tokens.items():
        found.append((("web", "api_tokens", name, "token_file"), token.token_file))
    return found


def _secret_file_checks(settings: Settings, out: Findings) -> None:
    for key_path, path in _secret_files(settings):
        expanded = Path(os.path.expandvars(str(path)))
        try:
            mode = expanded.stat().st_mode
        except OSError:
            continue  # a missing password file is an error reported by the model
        if mode & stat.S_IROTH:
            out.warnings.append(
                (
                    key_path,
                    f"{expanded} is readable by every user (mode {stat.S_IMODE(mode):04o});"
                    " make it readable by the service only (chmod 0640 or 0600)",
                )
            )


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def _web_checks(settings: Settings, out: Findings) -> None:
    web = settings.web
    if web.enabled and web.accounts and not web.tls and web.host not in LOOPBACK_HOSTS:
        out.warnings.append(
            (
                ("web", "host"),
                f"console logins on {web.host} travel without TLS; set tls_cert_file and "
                "tls_key_file (the login cookie is only sent over HTTPS then)",
            )
        )


def _mqtt_checks(settings: Settings, out: Findings) -> None:
    cap, needed = settings.mqtt.max_state_topics, settings.mqtt_state_topics
    if settings.mqtt.enabled and cap is not None and cap < needed:
        out.errors.append(
            (
                ("mqtt", "max_state_topics"),
                f"{cap} is below the {needed} state topics this site publishes (the site, "
                "each connector, each charger, meter and reader, and with OCPP or web payment "
                "the display messages and web payment of each connector): raise it, or leave "
                "it out to follow the site's size",
            )
        )


def _ocpp_checks(settings: Settings, out: Findings) -> None:
    """A charger's own OCPP version needs an identity of its own to speak it on."""
    if settings.ocpp.topology == "per_charger":
        return
    for cid, charger in settings.chargers.items():
        if charger.ocpp is not None:
            out.errors.append(
                (
                    ("chargers", cid, "ocpp"),
                    "a charger's own OCPP version needs ocpp.topology per_charger: with "
                    "topology site every charger speaks through the site's one identity",
                )
            )


def check_settings(settings: Settings) -> Findings:
    """Every combination of valid values that cannot work (errors) or may surprise (warnings)."""
    out = Findings()
    _limit_checks(settings, out)
    _charger_checks(settings, out)
    _reading_age_checks(settings, out)
    _fallback_checks(settings, out)
    _secret_file_checks(settings, out)
    _web_checks(settings, out)
    _mqtt_checks(settings, out)
    _ocpp_checks(settings, out)
    gateway_checks(settings, out)
    return out
