"""`edge-controller selftest` through the running daemon: the read-only items, on its own buses.

While the daemon runs it owns the RS-485 lines (a second process opening a serial port would
garble both) and is driving the chargers. So the daemon runs the items that only read: its
device reads queue on its buses between its own polls and writes. Items that write (a setpoint
written and read back, the watchdog programmed, an EV paused to see which grid phase falls) and
the card tap (a card tapped now would start a session) are skipped, each named, saying they
need the daemon stopped. The CSMS item is the daemon's own connection: a second connection
with the same identity would make the CSMS drop the daemon's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge_controller.app.selftest import (
    Item,
    Options,
    Report,
    SiteDevices,
    check_answers,
    check_clock,
    check_disk,
    check_mqtt,
    check_readers,
    failed,
    kernel_clock_synchronised,
    passed,
    skipped,
    to_json,
)
from edge_controller.config.settings import Settings
from edge_controller.drivers.modbus.bus import ModbusBus

NEEDS_STOPPED = "needs the daemon stopped"
WRITE_SKIP = f"{NEEDS_STOPPED}: it writes to the charger (systemctl stop edge-controller)"
TAP_SKIP = f"{NEEDS_STOPPED}: a card tapped now would start a session"
PHASES_SKIP = f"{NEEDS_STOPPED}: it pauses a charging EV to see which grid phase falls"


@dataclass(frozen=True, slots=True)
class DaemonSide:
    """What the running daemon lends the selftest: its open buses and its CSMS link state."""

    settings: Settings
    buses: dict[str, ModbusBus]
    uplink_online: Callable[[], bool]
    synchronised: Callable[[], bool] = kernel_clock_synchronised


def write_items_skipped(settings: Settings) -> list[Item]:
    """Every item that writes, by the name it has when the daemon is stopped."""
    items: list[Item] = []
    for charger_id, charger in settings.chargers.items():
        for n in range(1, charger.connectors + 1):
            name = f"charger {charger_id}:{n} takes a setpoint and reads it back"
            items.append(skipped(name, WRITE_SKIP))
        items.append(skipped(f"charger {charger_id} watchdog programmed as configured", WRITE_SKIP))
    if settings.chargers:
        items.append(skipped("grid meter phases", PHASES_SKIP))
    return items


def check_link(settings: Settings, online: bool) -> list[Item]:
    ocpp = settings.ocpp
    if not ocpp.enabled:
        return [skipped("CSMS reachable", "ocpp.enabled is false")]
    name = f"CSMS reachable ({ocpp.url}, security profile {ocpp.security_profile})"
    if online:
        return [passed(name, "the daemon's connection is open")]
    return [failed(name, "the daemon is not connected to the CSMS (see its log)", "csms")]


STAGES = 7  # the groups of items below, for the progress shown


async def run_live_selftest(
    side: DaemonSide, progress: Callable[[int, int, int], None] | None = None
) -> Report:
    """``progress(stages done, STAGES, items so far)`` after each group of items."""
    settings = side.settings
    report = Report(settings.site.id, Options().clock())
    devices = SiteDevices(read_only=True)
    devices.build(settings, side.buses)

    def stage(done: int) -> None:
        if progress is not None:
            progress(done, STAGES, len(report.items))

    report.items += await check_answers(devices)
    stage(1)
    report.items += write_items_skipped(settings)
    report.items += await check_readers(settings, Options(no_tap_reason=TAP_SKIP))
    stage(2)
    report.items += check_link(settings, side.uplink_online())
    stage(3)
    report.items.append(check_clock(None, side.synchronised))
    stage(4)
    report.items += await check_mqtt(settings)
    stage(5)
    report.items.append(check_disk(settings))
    stage(STAGES)
    return report


def daemon_selftest(
    side: DaemonSide, progress: Callable[[int, int, int], None] | None = None
) -> Callable[[dict[str, Any]], Any]:
    """The status socket's POST /selftest: ``{}`` → the report's JSON."""

    async def selftest(request: dict[str, Any]) -> dict[str, Any]:
        if request:
            raise ValueError(f"selftest takes no options, not {', '.join(sorted(request))}")
        return to_json(await run_live_selftest(side, progress))

    return selftest
