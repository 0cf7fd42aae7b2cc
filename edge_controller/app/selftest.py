"""`edge-controller selftest`: prove a commissioned site, item by item, with the daemon stopped.

Each item passes, fails (with the value seen and the fix from the README's troubleshooting) or
is skipped (with why: nothing to test, or it needs a person). The result is a commissioning
report (JSON and HTML); the command exits 0 only if nothing failed.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import ctypes
import html
import math
import re
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from edge_controller.config.settings import ReaderSettings, Settings
from edge_controller.domain.balancing import wiring_from_rotation
from edge_controller.domain.balancing.wiring import reading_to_grid_phases
from edge_controller.domain.model import ChargerStatus, CpState, MeterReading
from edge_controller.domain.sessions.tokens import masked
from edge_controller.drivers import registry
from edge_controller.drivers.modbus.bus import ModbusBus
from edge_controller.drivers.modbus.charger import ProfileCharger
from edge_controller.drivers.modbus.meter import ProfileMeter
from edge_controller.drivers.pcsc.config import ReaderConfig
from edge_controller.ports import DeviceError, DeviceFault, DeviceUnavailable, Meter
from edge_controller.telemetry.probe import probe_broker

Status = Literal["pass", "fail", "skip"]
MAX_SKEW_S = 60.0
MIN_FREE_BYTES = 100 * 1024 * 1024
CERT_WARN_S = 14 * 86400.0
PHASE_DROP_MIN_A = 2.0  # a grid phase "fell" when a paused EV took at least this off it
TIME_ERROR = 5  # adjtimex: the kernel's clock is not synchronised

# The README's troubleshooting sections (their bold titles) and the fix each item points to.
HINTS: dict[str, tuple[str, str]] = {
    "silent": (
        "Bus timeouts",
        "check A/B wiring and termination, baud/parity/stop bits and the unit id "
        "(edge-controller scan lists which unit ids answer, at which baud)",
    ),
    "fault": (
        "Wrong unit id",
        "the unit id may belong to another model: set unit_id to the device's address",
    ),
    "readback": (
        "Charger does not take setpoints",
        "the charger did not store the current written: check that remote control (Modbus "
        "write access) is enabled on it and that the profile matches the model",
    ),
    "watchdog": (
        "Charger watchdog not as configured",
        "the charger did not keep the failsafe current/timeout written: enable its Modbus "
        "watchdog, check failsafe_current_a/failsafe_timeout_s against what it accepts",
    ),
    "phases": (
        "Phase rotation",
        "set the charger's (or the grid meter's) phase_rotation to how it is wired",
    ),
    "reader": (
        "Card reader missing",
        "plug the reader in, check that pcscd runs and that name_pattern matches its name",
    ),
    "csms": (
        "OCPP connection refused",
        "correct ocpp.url, identity, password_file, security_profile, ca_file",
    ),
    "clock": (
        "Clock not synchronised",
        "enable time synchronisation (systemd-timesyncd or chrony) and check the time zone "
        "is not set on the hardware clock",
    ),
    "card": (
        "Test card not read",
        "hold the card flat on the reader for a second within the timeout; if it still is not "
        "read, check reverse_uid/uid_from_atr for the card type",
    ),
    "mqtt": ("MQTT broker unreachable", "correct mqtt.host, port, credentials and tls"),
    "disk": ("Disk full", "free space in storage.state_dir (old logs, backups)"),
}


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    status: Status
    seen: str
    section: str = ""
    hint: str = ""


def passed(name: str, seen: str) -> Item:
    return Item(name, "pass", seen)


def skipped(name: str, why: str) -> Item:
    return Item(name, "skip", why)


def failed(name: str, seen: str, hint: str) -> Item:
    section, text = HINTS[hint]
    return Item(name, "fail", seen, section, text)


@dataclass(frozen=True, slots=True)
class Options:
    settle_s: float = 8.0  # an EV follows a new offer within 5 s (IEC 61851), plus a reading
    tap_timeout_s: float | None = None  # wait this long for a test card per reader; None: skip
    no_tap_reason: str = "needs a person to tap: run with --tap-card"  # why, when skipped
    clock: Callable[[], float] = time.time


@dataclass(slots=True)
class Report:
    site: str
    at_s: float
    items: list[Item] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.status != "fail" for item in self.items)


def _device_failure(name: str, exc: DeviceError) -> Item:
    return failed(name, str(exc), "fault" if isinstance(exc, DeviceFault) else "silent")


def _reading_text(current_a: tuple[float, float, float], voltage_v: tuple[float, ...]) -> str:
    currents = "/".join(f"{c:.1f}" for c in current_a)
    volts = "/".join(f"{v:.0f}" for v in voltage_v)
    return f"{currents} A, {volts} V"


class SiteDevices:
    """The configured devices on their opened buses, as the daemon would build them."""

    def __init__(self, read_only: bool = False) -> None:
        self.chargers: dict[str, list[ProfileCharger]] = {}
        self.meters: dict[str, ProfileMeter] = {}
        # Read without the start-up writes (the daemon's devices: it made them itself).
        self.read_only = read_only

    async def open(self, settings: Settings, stack: contextlib.AsyncExitStack) -> None:
        buses: dict[str, ModbusBus] = {}
        for bus_id, bus_settings in settings.buses.items():
            bus = registry.build_bus(bus_id, bus_settings)
            buses[bus_id] = await stack.enter_async_context(bus)
        self.build(settings, buses)

    def build(self, settings: Settings, buses: dict[str, ModbusBus]) -> None:
        """The ports on ``buses`` (opened here, or the running daemon's: a port on a device
        the daemon polls shares its channel, so the reads queue behind the daemon's)."""
        for charger_id, charger in settings.chargers.items():
            ports = registry.build_charger(charger_id, charger, buses[charger.bus])
            self.chargers[charger_id] = [p for p in ports if isinstance(p, ProfileCharger)]
        for meter_id, meter in settings.meters.items():
            port = registry.build_meter(meter_id, meter, buses[meter.bus])
            assert isinstance(port, ProfileMeter)  # every meter is driven by its profile
            self.meters[meter_id] = port

    async def charger_status(self, charger: ProfileCharger) -> ChargerStatus:
        return await (charger.peek_status() if self.read_only else charger.read_status())

    async def meter_reading(self, meter: ProfileMeter) -> MeterReading:
        return await (meter.peek() if self.read_only else meter.read())


async def check_answers(devices: SiteDevices) -> list[Item]:
    items: list[Item] = []
    for connectors in devices.chargers.values():
        for charger in connectors:
            name = f"charger {charger.connector_id} answers"
            try:
                status = await devices.charger_status(charger)
            except DeviceError as exc:
                items.append(_device_failure(name, exc))
                continue
            seen = f"state {status.state.value}, offering {status.offered_current_a:g} A"
            items.append(passed(name, seen))
    for meter_id, meter in devices.meters.items():
        name = f"meter {meter_id} answers with plausible values"
        try:
            reading = await devices.meter_reading(meter)
        except DeviceError as exc:
            items.append(_device_failure(name, exc))
            continue
        items.append(passed(name, _reading_text(reading.current_a, reading.voltage_v)))
    return items


async def _stop(charger: ProfileCharger) -> str | None:
    try:
        await charger.set_current(0.0)
    except DeviceError as exc:
        return str(exc)
    return None


async def _setpoint_readback(charger: ProfileCharger) -> Item:
    name = f"charger {charger.connector_id} takes a setpoint and reads it back"
    status = await charger.read_status()
    if status.state is CpState.C:
        return skipped(name, "an EV is charging: run again with none charging")
    device = charger.device
    point = device.point("set_current")
    before = (await device.read(["set_current"]))["set_current"]
    test_a = charger.min_current_a if before != charger.min_current_a else charger.min_current_a + 1
    try:
        await device.write("set_current", test_a)
        after = (await device.read(["set_current"]))["set_current"]
    except DeviceFault as exc:  # refused, or answered with another value than written
        return failed(name, f"writing {test_a:g} A: {exc}", "readback")
    finally:
        stopped = await _stop(charger)  # nothing is authorised while the daemon is stopped
    if stopped is not None:
        return failed(name, f"wrote {test_a:g} A, then could not set 0 A: {stopped}", "readback")
    if not math.isclose(after, test_a, abs_tol=abs(point.scale)):
        seen = f"wrote {test_a:g} A, read back {after:g} A"
        return failed(name, seen, "readback")
    return passed(name, f"wrote {test_a:g} A, read back {after:g} A; left at 0 A")


async def check_setpoints(devices: SiteDevices) -> list[Item]:
    items: list[Item] = []
    for connectors in devices.chargers.values():
        for charger in connectors:
            try:
                items.append(await _setpoint_readback(charger))
            except DeviceError as exc:
                name = f"charger {charger.connector_id} takes a setpoint and reads it back"
                items.append(_device_failure(name, exc))
    return items


async def _watchdog(charger: ProfileCharger, current_a: float, timeout_s: float) -> Item:
    name = f"charger {charger.device.channel.device_id} watchdog programmed as configured"
    program = getattr(charger, "program_failsafe", None)
    if program is None:
        return skipped(name, f"profile {charger.device.profile.name} has no watchdog registers")
    try:
        await program(current_a, timeout_s)
    except DeviceFault as exc:
        return failed(name, f"programming {current_a:g} A, {timeout_s:g} s: {exc}", "watchdog")
    values = await charger.device.read(["failsafe_current", "failsafe_timeout"])
    got_a, got_s = values["failsafe_current"], values["failsafe_timeout"]
    seen = (
        f"falls back to {got_a:g} A after {got_s:g} s (configured {current_a:g} A, {timeout_s:g} s)"
    )
    if not (
        math.isclose(got_a, current_a, abs_tol=0.1) and math.isclose(got_s, timeout_s, abs_tol=1)
    ):
        return failed(name, seen, "watchdog")
    await program(0.0, timeout_s)  # no session is authorised while the daemon is stopped
    return passed(name, seen)


async def check_watchdogs(settings: Settings, devices: SiteDevices) -> list[Item]:
    items: list[Item] = []
    for charger_id, connectors in devices.chargers.items():
        config = settings.chargers[charger_id]
        try:
            item = await _watchdog(
                connectors[0], config.failsafe_current_a, config.failsafe_timeout_s
            )
        except DeviceError as exc:
            item = _device_failure(f"charger {charger_id} watchdog programmed as configured", exc)
        items.append(item)
    return items


def expected_grid_phases(rotation: str, charger_phases: tuple[int, ...]) -> set[int]:
    """The grid phases (0..2) an EV drawing on ``charger_phases`` loads. Pure."""
    wiring = wiring_from_rotation(rotation)
    return {wiring[p] for p in charger_phases if p < len(wiring)}


def fallen_phases(before_a: tuple[float, ...], after_a: tuple[float, ...]) -> set[int]:
    """Grid phases whose current fell markedly. Pure."""
    drops = [b - a for b, a in zip(before_a, after_a, strict=True)]
    biggest = max(drops)
    threshold = max(PHASE_DROP_MIN_A, biggest / 2)
    return {n for n, drop in enumerate(drops) if drop >= threshold}


async def _ev_phases(charger: ProfileCharger) -> tuple[int, ...]:
    """The charger phases its EV draws on (its own meter if it has one; else L1 only)."""
    read_meter = getattr(charger, "read_meter", None)
    if read_meter is None:
        return (0,)
    reading = await read_meter()
    return tuple(n for n, c in enumerate(reading.current_a) if c >= PHASE_DROP_MIN_A) or (0,)


async def _phase_test(
    charger: ProfileCharger, rotation: str, grid: Meter, options: Options
) -> Item:
    name = f"charger {charger.connector_id} phases match the grid meter"
    phases = await _ev_phases(charger)
    expected = expected_grid_phases(rotation, phases)
    if len(expected) == 3:
        return skipped(name, "a three-phase EV loads every phase alike: test with a 1-phase EV")
    offered_a = (await charger.read_status()).offered_current_a
    before = (await grid.read()).current_a
    await charger.set_current(0.0)
    try:
        await asyncio.sleep(options.settle_s)
        after = (await grid.read()).current_a
    finally:  # the EV gets its current back whatever happened meanwhile
        await charger.set_current(max(offered_a, charger.min_current_a))
    fell = fallen_phases(before, after)
    seen = (
        f"pausing it lowered grid {_phase_names(fell)}; "
        f"phase_rotation {rotation} says {_phase_names(expected)}"
    )
    return passed(name, seen) if fell == expected else failed(name, seen, "phases")


def _phase_names(phases: set[int]) -> str:
    return ", ".join(f"L{p + 1}" for p in sorted(phases)) or "none"


async def check_phases(settings: Settings, devices: SiteDevices, options: Options) -> list[Item]:
    grid_id = next((m for m, c in settings.meters.items() if c.role == "grid"), None)
    if grid_id is None:
        return [skipped("grid meter phases", "no grid meter configured")]
    if grid_id not in devices.meters:
        return [skipped("grid meter phases", f"the grid meter {grid_id} did not answer")]
    wiring = wiring_from_rotation(settings.meters[grid_id].phase_rotation)
    grid = _GridPhases(devices.meters[grid_id], wiring)
    items: list[Item] = []
    for charger_id, connectors in devices.chargers.items():
        for charger in connectors:
            try:
                if (await charger.read_status()).state is not CpState.C:
                    continue
                rotation = settings.chargers[charger_id].phase_rotation
                items.append(await _phase_test(charger, rotation, grid, options))
            except DeviceError as exc:
                items.append(_device_failure(f"charger {charger.connector_id} phases", exc))
    return items or [skipped("grid meter phases", "no EV is charging: plug one in to test")]


class _GridPhases:
    def __init__(self, meter: Meter, wiring: tuple[int, ...]) -> None:
        self._meter, self._wiring = meter, wiring

    async def read(self) -> Any:
        return reading_to_grid_phases(await self._meter.read(), self._wiring)


def _reader_names() -> list[str]:
    from edge_controller.drivers.pcsc import pcsc_io

    context = pcsc_io.establish()
    try:
        return pcsc_io.list_readers(context)
    finally:
        pcsc_io.release(context)


def _wait_for_card(reader_name: str, config: ReaderConfig, timeout_s: float) -> str | None:
    """The masked id of the first card put on ``reader_name`` and read within ``timeout_s``,
    else None. A card lifted before it could be read is waited for again, as an installer lifts
    and taps again. Blocking (PC/SC)."""
    from edge_controller.drivers.pcsc import pcsc_io

    context = pcsc_io.establish()
    try:
        state = pcsc_io.ReaderState(reader_name)
        deadline_s = time.monotonic() + timeout_s
        while (left_s := deadline_s - time.monotonic()) > 0:
            if not pcsc_io.wait_change(context, [state], max(1, int(left_s * 1000))):
                return None
            state.current = state.event
            if state.present:
                uid = _read_held_card(context, reader_name, state.atr, config, deadline_s)
                if uid is not None:
                    return uid
        return None
    finally:
        pcsc_io.release(context)


READ_ATTEMPTS = 3


def _read_held_card(
    context: Any, reader_name: str, atr: bytes, config: ReaderConfig, deadline_s: float
) -> str | None:
    """The masked id of the card on the reader, or None when it was lifted before it could be
    read. A card moving on the reader may fail one exchange: it is read again (up to
    READ_ATTEMPTS, within the deadline) before the item fails with the last error."""
    from edge_controller.drivers.pcsc import pcsc_io
    from edge_controller.drivers.pcsc.card_read import read_card

    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return masked(read_card(context, reader_name, atr, config).token.id_tag)
        except Exception:
            if not pcsc_io.card_present(context, reader_name):
                return None
            if attempt == READ_ATTEMPTS or time.monotonic() + 0.2 > deadline_s:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


async def _tap_item(reader_id: str, reader: ReaderSettings, name: str, timeout_s: float) -> Item:
    item_name = f"reader {reader_id} reads a test card"
    config = ReaderConfig(reader_id, reader.name_pattern, reader.reverse_uid, reader.uid_from_atr)
    prompt = f"tap a test card on reader {reader_id} ({name}) within {timeout_s:g} s"
    print(prompt, file=sys.stderr, flush=True)  # stdout may carry the JSON report
    try:
        uid = await asyncio.to_thread(_wait_for_card, name, config, timeout_s)
    except Exception as exc:  # pyscard's and the card read's errors: the card was not read
        return failed(item_name, f"the card could not be read: {exc}", "card")
    if uid is None:
        return failed(item_name, f"no card within {timeout_s:g} s", "card")
    return passed(item_name, f"card {uid} read")


async def check_readers(settings: Settings, options: Options = Options()) -> list[Item]:
    if not settings.readers:
        return []
    try:
        names = await asyncio.to_thread(_reader_names)
    except Exception as exc:  # pyscard raises its own types; any of them means no service
        return [failed(f"reader {r} present", f"PC/SC: {exc}", "reader") for r in settings.readers]
    items: list[Item] = []
    for reader_id, reader in settings.readers.items():
        match = next((n for n in names if re.search(reader.name_pattern, n)), None)
        if match is None:
            seen = (
                f"no reader matches /{reader.name_pattern}/ (readers: {', '.join(names) or 'none'})"
            )
            items.append(failed(f"reader {reader_id} present", seen, "reader"))
        elif options.tap_timeout_s is None:
            items.append(passed(f"reader {reader_id} present", match))
            items.append(skipped(f"reader {reader_id} reads a test card", options.no_tap_reason))
        else:
            items.append(passed(f"reader {reader_id} present", match))
            items.append(await _tap_item(reader_id, reader, match, options.tap_timeout_s))
    return items


async def check_csms(settings: Settings, options: Options) -> tuple[list[Item], float | None]:
    """The CSMS item and the clock difference to it (None when unknown)."""
    # Imported here: the websocket and certificate libraries are the daemon's memory too (it
    # serves the selftest), and a site without OCPP never needs them.
    from edge_controller.uplink.probe import probe_csms

    ocpp = settings.ocpp
    if not ocpp.enabled:
        return [skipped("CSMS reachable", "ocpp.enabled is false")], None
    probe = await probe_csms(ocpp, ocpp.identity or settings.site.id)
    name = f"CSMS reachable ({ocpp.url}, security profile {ocpp.security_profile})"
    if probe.error is not None:
        return [failed(name, probe.error, "csms")], None
    now_s = options.clock()
    items = [passed(name, "websocket opened")]
    if probe.certificate_expires_s is not None:
        days = (probe.certificate_expires_s - now_s) / 86400
        cert = f"certificate valid for {days:.0f} more days"
        ok = probe.certificate_expires_s - now_s > CERT_WARN_S
        items.append(
            passed("CSMS certificate", cert) if ok else failed("CSMS certificate", cert, "csms")
        )
    if probe.server_time_s is None:
        return items, None
    skew_s = now_s - probe.server_time_s
    seen = f"our clock is {skew_s:+.0f} s from the CSMS's"
    fits = abs(skew_s) <= MAX_SKEW_S
    items.append(
        passed("clock agrees with the CSMS", seen)
        if fits
        else failed("clock agrees with the CSMS", seen, "clock")
    )
    return items, skew_s


def kernel_clock_synchronised() -> bool:
    """The kernel's NTP state (adjtimex): False while no time service disciplines it."""
    buffer = ctypes.create_string_buffer(512)  # larger than struct timex; modes 0: read only
    state = int(ctypes.CDLL(None, use_errno=True).adjtimex(buffer))
    return state not in (-1, TIME_ERROR)


def check_clock(skew_s: float | None, synchronised: Callable[[], bool]) -> Item:
    name = "clock synchronised"
    if synchronised():
        return passed(name, "the kernel clock is synchronised")
    if skew_s is not None and abs(skew_s) <= MAX_SKEW_S:
        return passed(name, f"no time service, but within {abs(skew_s):.0f} s of the CSMS")
    return failed(name, "the kernel clock is not synchronised (adjtimex)", "clock")


async def check_mqtt(settings: Settings) -> list[Item]:
    mqtt = settings.mqtt
    if not mqtt.enabled:
        return [skipped("MQTT broker reachable", "mqtt.enabled is false")]
    name = f"MQTT broker reachable ({mqtt.host}:{mqtt.port})"
    error = await probe_broker(mqtt, f"{settings.site.id}-selftest")
    return [passed(name, "connected") if error is None else failed(name, error, "mqtt")]


def check_disk(settings: Settings) -> Item:
    path = Path(settings.storage.state_dir)
    while not path.exists() and path != path.parent:
        path = path.parent  # not created yet: the file system it will be on
    free = shutil.disk_usage(path).free
    seen = f"{free / 2**20:.0f} MiB free in {path}"
    return (
        passed("disk has room", seen)
        if free >= MIN_FREE_BYTES
        else failed("disk has room", seen, "disk")
    )


async def _guarded(items: list[Item], name: str, check: Awaitable[list[Item]]) -> None:
    try:
        items += await check
    except DeviceUnavailable as exc:
        items.append(failed(name, str(exc), "silent"))


async def run_selftest(
    settings: Settings,
    options: Options = Options(),
    synchronised: Callable[[], bool] = kernel_clock_synchronised,
) -> Report:
    report = Report(settings.site.id, options.clock())
    async with contextlib.AsyncExitStack() as stack:
        devices = SiteDevices()
        await devices.open(settings, stack)
        report.items += await check_answers(devices)
        answering = {i.name for i in report.items if i.status == "pass"}
        # A device that did not answer is not asked again: its failure is already reported.
        for charger_id, connectors in list(devices.chargers.items()):
            if not any(f"charger {c.connector_id} answers" in answering for c in connectors):
                del devices.chargers[charger_id]
        for meter_id in list(devices.meters):
            if f"meter {meter_id} answers with plausible values" not in answering:
                del devices.meters[meter_id]
        await _guarded(report.items, "setpoints", check_setpoints(devices))
        await _guarded(report.items, "watchdogs", check_watchdogs(settings, devices))
        await _guarded(report.items, "phases", check_phases(settings, devices, options))
    report.items += await check_readers(settings, options)
    csms_items, skew_s = await check_csms(settings, options)
    report.items += csms_items
    report.items.append(check_clock(skew_s, synchronised))
    report.items += await check_mqtt(settings)
    report.items.append(check_disk(settings))
    return report


def to_json(report: Report) -> dict[str, Any]:
    return {
        "site": report.site,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(report.at_s)),
        "passed": report.ok,
        "items": [asdict(item) for item in report.items],
    }


def report_from_json(data: dict[str, Any]) -> Report:
    """A report the daemon ran, back from its JSON (to print or write it here)."""
    at_s = calendar.timegm(time.strptime(str(data["at"]), "%Y-%m-%dT%H:%M:%SZ"))
    items = [Item(**item) for item in data["items"]]
    return Report(str(data["site"]), float(at_s), items)


def render_text(report: Report) -> str:
    lines = [f"selftest of site {report.site}: {'PASSED' if report.ok else 'FAILED'}"]
    for item in report.items:
        lines.append(f"  {item.status.upper():4s}  {item.name}: {item.seen}")
        if item.status == "fail":
            lines.append(f"        fix ({item.section}): {item.hint}")
    return "\n".join(lines)


def _fix(item: Item) -> str:
    return f"{item.section}: {item.hint}" if item.hint else ""


def render_html(report: Report) -> str:
    e = html.escape
    rows = "\n".join(
        f'<tr class="{item.status}"><td>{item.status.upper()}</td><td>{e(item.name)}</td>'
        f"<td>{e(item.seen)}</td><td>{e(_fix(item))}</td></tr>"
        for item in report.items
    )
    verdict = "passed" if report.ok else "FAILED"
    stamp = to_json(report)["at"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Commissioning report {e(report.site)}</title>
<style>body{{font-family:sans-serif}} td,th{{padding:4px 8px;border-bottom:1px solid #ccc}}
tr.fail td:first-child{{color:#b00;font-weight:bold}} tr.pass td:first-child{{color:#070}}
tr.skip td:first-child{{color:#777}}</style></head>
<body><h1>Commissioning report: site {e(report.site)}</h1>
<p>{e(stamp)}: selftest {verdict}.</p>
<table><tr><th>result</th><th>item</th><th>value seen</th><th>fix (README troubleshooting)</th></tr>
{rows}
</table></body></html>
"""
