"""systemd/edge-controller.service agrees with the daemon: stop timeout, exit codes, watchdog,
and the sandbox directives the daemon can live with."""

from __future__ import annotations

import re
from pathlib import Path

import annotated_types
import pytest

from edge_controller import cli
from edge_controller.config.settings import SiteSettings

UNIT = Path(__file__).parents[3] / "systemd" / "edge-controller.service"
UNITS_S = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "ms": 0.001}


def _unit() -> dict[str, list[str]]:
    """Directive → values in order (a directive may repeat); comments and sections skipped."""
    values: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        values.setdefault(key.strip(), []).append(value.strip())
    return values


def _seconds(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text):
        total += float(number) * UNITS_S[unit]
    return total


def _upper_bound(model: type[SiteSettings], field: str) -> float:
    for rule in model.model_fields[field].metadata:
        if isinstance(rule, annotated_types.Le):
            return float(rule.le)  # type: ignore[arg-type]
    raise AssertionError(f"{field} has no upper bound")


def _one(unit: dict[str, list[str]], key: str) -> str:
    [value] = unit[key]
    return value


def test_a_stop_has_time_for_both_shutdown_phases_at_the_largest_grace() -> None:
    grace_s = _upper_bound(SiteSettings, "shutdown_grace_s")
    # Safe currents (up to the grace), then the services (up to the grace again), then teardown.
    assert _seconds(_one(_unit(), "TimeoutStopSec")) >= 2 * grace_s + 10


def test_the_watchdog_outlasts_the_slowest_loop_tick() -> None:
    tick_s = _upper_bound(SiteSettings, "tick_s")
    assert _seconds(_one(_unit(), "WatchdogSec")) >= 2 * tick_s


def test_exit_codes_that_need_a_person_are_not_restarted() -> None:
    unit = _unit()
    codes = {
        value
        for name, value in vars(cli).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    assert {0, 1, 2} <= codes
    needs_a_person = codes - {cli.EXIT_OK, cli.EXIT_FAILURE}
    prevented = {int(code) for value in unit["RestartPreventExitStatus"] for code in value.split()}
    assert prevented == needs_a_person
    assert _one(unit, "Restart") == "on-failure"  # a runtime failure (1) is retried


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "notify"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateMounts", "yes"),
        ("ProtectProc", "invisible"),
        ("ProcSubset", "pid"),
        ("RemoveIPC", "yes"),
        ("DevicePolicy", "closed"),
        ("RestrictNamespaces", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("SupplementaryGroups", "dialout"),  # the serial ports
    ],
)
def test_sandbox_directive(key: str, value: str) -> None:
    assert _one(_unit(), key) == value


def test_only_the_socket_families_the_daemon_uses() -> None:
    # AF_UNIX: pcscd, sd_notify, the status socket; AF_INET/6: CSMS, MQTT, Modbus TCP.
    families = set(_one(_unit(), "RestrictAddressFamilies").split())
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6"}


def test_system_calls_are_the_service_set_without_privileged_or_resource_ones() -> None:
    filters = _unit()["SystemCallFilter"]
    assert filters[0] == "@system-service"
    denied = {group for line in filters[1:] if line.startswith("~") for group in line[1:].split()}
    assert {"@privileged", "@resources"} <= denied
