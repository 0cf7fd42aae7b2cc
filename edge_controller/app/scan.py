"""`edge-controller scan`: which devices answer on a bus, at which unit id, baud and model.

Each line setting to try gets its own pass over the units (a unit found once is not asked
again); each pass opens the bus with that setting, probes read-only (drivers/modbus/scan.py)
and, with ``record``, appends a segment to a trace of every request and reply.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from edge_controller.config.settings import BusSettings, RtuBusSettings, TcpBusSettings
from edge_controller.drivers import registry
from edge_controller.drivers.modbus import wiretime
from edge_controller.drivers.modbus.bus import DeviceTiming, ModbusBus
from edge_controller.drivers.modbus.scan import (
    Found,
    Line,
    Match,
    estimate_left_s,
    parse_units,
    scan_line,
    scannable,
    serial_lines,
)
from edge_controller.drivers.modbus.trace import TraceHeader, TraceRecorder
from edge_controller.drivers.profiles.schema import Profile, load_profile

PROBE_REQUEST_BYTES = 8  # an RTU read request: unit, function, address, count, CRC
BAR_WIDTH = 20
Report = Callable[[int, int], None]  # units done in this pass, devices found in it


class ScanFailed(Exception):
    """The bus cannot be used at all (the port cannot be opened, the host is unreachable)."""


@dataclass(frozen=True, slots=True)
class ScanPlan:
    bus_id: str
    bus: BusSettings
    lines: list[Line]
    units: list[int]
    timeout_s: float
    record: Path | None = None


@dataclass(slots=True)
class ScanResult:
    plan: ScanPlan
    found: list[Found] = field(default_factory=list)
    probes: int = 0
    elapsed_s: float = 0.0


Progress = Callable[[int, int, int], None]  # (done, in all, found)


def shipped_profiles() -> list[Profile]:
    return [load_profile(name) for name in sorted(registry.profile_kinds())]


def plan_lines(bus: BusSettings, baud: str) -> list[Line]:
    """``--baud auto``: every combination the profiles use (the bus's first); else one."""
    if not isinstance(bus, RtuBusSettings):
        return [Line()]  # TCP, or a gateway whose serial side is set on the gateway
    configured = Line(bus.baud, bus.parity, bus.stop_bits)
    if baud == "auto":
        return serial_lines(shipped_profiles(), bus.framing, configured)
    return [Line(int(baud), bus.parity, bus.stop_bits)]


def probe_cost_s(plan: ScanPlan, line: Line) -> float:
    """What a silent unit costs: its request on the wire, then the timeout."""
    wire_s = wiretime.frame_time_s(line.baud, PROBE_REQUEST_BYTES) if line.baud else 0.0
    return plan.timeout_s + wire_s


class ProgressBar:
    """Progress and the time left on ``out``: redrawn in place on a terminal, else one line
    per tenth of the work (logs stay readable)."""

    def __init__(self, out: TextIO, total: int, clock: Callable[[], float] = time.monotonic):
        self.out = out
        self.total = max(1, total)
        self.clock = clock
        self.started_s = clock()
        self._last_tenth = -1

    def update(self, done: int, found: int, line: Line, probe_s: float) -> None:
        elapsed_s = self.clock() - self.started_s
        left_s = estimate_left_s(done, self.total, elapsed_s, probe_s)
        filled = BAR_WIDTH * done // self.total
        text = (
            f"scan {line.label()} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{done}/{self.total} probes, {found} found, about {left_s:.0f} s left"
        )
        if self.out.isatty():
            self.out.write("\r" + text)
            self.out.flush()
            return
        tenth = 10 * done // self.total
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            print(text, file=self.out, flush=True)

    def finish(self) -> None:
        if self.out.isatty():
            self.out.write("\n")
            self.out.flush()


def _line_bus(plan: ScanPlan, line: Line) -> BusSettings:
    update: dict[str, Any] = {"timeout_s": plan.timeout_s, "retries": 0}
    if line.baud is not None:
        update |= {"baud": line.baud, "parity": line.parity, "stop_bits": line.stop_bits}
    return plan.bus.model_copy(update=update)


def _recorder(plan: ScanPlan, settings: BusSettings, line: Line) -> TraceRecorder | None:
    if plan.record is None:
        return None
    framing = getattr(settings, "framing", "tcp") if settings.type != "tcp" else "tcp"
    header = TraceHeader(plan.bus_id, framing, line.baud, line.parity)
    return TraceRecorder(plan.record, header)


async def _open(bus: ModbusBus, plan: ScanPlan) -> None:
    try:
        await bus.transport.link.open()
    except OSError as exc:
        raise ScanFailed(f"bus {plan.bus_id}: {exc}") from exc


async def _scan_pass(
    plan: ScanPlan, line: Line, units: list[int], profiles: list[Profile], report: Report
) -> list[Found]:
    settings = _line_bus(plan, line)
    bus = registry.build_bus(plan.bus_id, settings)
    bus.transport.recorder = _recorder(plan, settings, line)
    timing = DeviceTiming(plan.timeout_s, 0, settings.min_gap_s)
    try:
        await _open(bus, plan)
        async with bus:
            return await scan_line(bus, line, units, profiles, timing, progress=report)
    finally:
        if bus.transport.recorder is not None:
            bus.transport.recorder.close()


def _reporter(
    progress: ProgressBar | None, plan: ScanPlan, line: Line, done: int, found: int
) -> Report:
    def report(index: int, found_now: int) -> None:
        if progress is not None:
            progress.update(done + index, found + found_now, line, probe_cost_s(plan, line))

    return report


async def run_scan(plan: ScanPlan, progress: ProgressBar | None = None) -> ScanResult:
    framing = "tcp" if isinstance(plan.bus, TcpBusSettings) else plan.bus.framing
    profiles = scannable(shipped_profiles(), framing)
    result = ScanResult(plan)
    started_s = time.monotonic()
    done = 0
    for line in plan.lines:
        known = {f.unit for f in result.found}
        units = [u for u in plan.units if u not in known]
        done += len(plan.units) - len(units)  # found at an earlier setting: not asked again
        report = _reporter(progress, plan, line, done, len(result.found))
        result.found += await _scan_pass(plan, line, units, profiles, report)
        done += len(units)
        result.probes += len(units)
    if progress is not None:
        progress.finish()
    result.found.sort(key=lambda f: f.unit)
    result.elapsed_s = time.monotonic() - started_s
    return result


def _bus_line(bus_id: str, bus: BusSettings, line: Line | None) -> str:
    if isinstance(bus, RtuBusSettings):
        chosen = line or Line(bus.baud, bus.parity, bus.stop_bits)
        fields = (
            f"type: rtu, device: {bus.device}, baud: {chosen.baud}, "
            f"parity: {chosen.parity}, stop_bits: {chosen.stop_bits}"
        )
        if bus.framing != "rtu":
            fields += f", framing: {bus.framing}"
    elif isinstance(bus, TcpBusSettings):
        fields = f"type: tcp, host: {bus.host}, port: {bus.port}"
    else:
        fields = f"type: rtu_over_tcp, host: {bus.host}, port: {bus.port}, baud: {bus.baud}"
    return f"  {bus_id}: {{{fields}}}"


def yaml_snippet(result: ScanResult) -> str:
    """Config for what was found. One RS-485 line has one baud: the setting most devices use
    is the bus's; a device found at another one is left commented out with what to change."""
    plan = result.plan
    known = [f for f in result.found if f.match is not None]
    counts: dict[Line, int] = {}
    for found in known:
        counts[found.line] = counts.get(found.line, 0) + 1
    main = max(counts, key=lambda line: counts[line]) if counts else None
    lines = ["buses:", _bus_line(plan.bus_id, plan.bus, main)]
    sections: dict[str, list[str]] = {"charger": [], "meter": []}
    meters = 0
    for found in result.found:
        if found.match is None:
            note = f"  # unit {found.unit}: unknown model; needs a profile (profile_file)"
            sections["meter"].append(note)
            continue
        kind = found.match.kind
        fields = f"bus: {plan.bus_id}, unit_id: {found.unit}, profile: {found.match.profile}"
        notes = []
        if kind == "meter":
            meters += 1
            fields += ", role: grid" if meters == 1 else ", role: feeder"
            notes += [] if meters == 1 else ["set its role (and feeder)"]
        if found.confidence == "low":
            notes.append(f"also fits: {', '.join(found.candidates[1:])}")
        entry = f"  {kind}_{found.unit}: {{{fields}}}"
        entry += f"  # {'; '.join(notes)}" if notes else ""
        if main is not None and found.line != main:
            move = f"  # answers at {found.line.label()}: set it to {main.label()}, then"
            entry = f"{move}\n  #{entry}"
        sections[kind].append(entry)
    for kind in ("charger", "meter"):
        entries = sections[kind]
        if entries:
            live = any(not entry.lstrip().startswith("#") for entry in entries)
            lines += [f"{kind}s:" if live else f"# {kind}s:", *entries]
    return "\n".join(lines) + "\n"


def _values_text(found: Found) -> str:
    return " ".join(f"{k.split('.', 1)[1]}={v:g}" for k, v in sorted(found.values.items()))


def render_text(result: ScanResult) -> str:
    plan = result.plan
    tried = ", ".join(line.label() for line in plan.lines)
    out = [
        f"bus {plan.bus_id} ({plan.bus.type}): {len(result.found)} device(s) answered, "
        f"{result.probes} probes over {tried} in {result.elapsed_s:.1f} s"
    ]
    for found in result.found:
        where = f"unit {found.unit:3d}  {found.line.label():10s}"
        if found.match is None:
            answers = "; ".join(f"{req} → {rep}" for req, rep in found.replies.items())
            out.append(f"  {where} unknown model (answers: {answers})")
            continue
        match = found.match
        text = f"  {where} {match.model} ({match.profile}), confidence {found.confidence}"
        if found.confidence == "low":
            text += f" (also fits {', '.join(found.candidates[1:])})"
        out.append(f"{text}: {_values_text(found)}")
    out += ["", "config snippet:", yaml_snippet(result)]
    return "\n".join(out)


def to_json(result: ScanResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "bus": plan.bus_id,
        "type": plan.bus.type,
        "lines": [_line_json(line) for line in plan.lines],
        "units": plan.units,
        "probes": result.probes,
        "elapsed_s": round(result.elapsed_s, 3),
        "devices": [_found_json(f) for f in result.found],
        "snippet": yaml_snippet(result),
    }


def _line_json(line: Line) -> dict[str, Any]:
    return {"baud": line.baud, "parity": line.parity, "stop_bits": line.stop_bits}


def _found_json(found: Found) -> dict[str, Any]:
    match = found.match
    return {
        "unit": found.unit,
        "line": _line_json(found.line),
        "profile": match.profile if match else None,
        "model": match.model if match else "unknown model",
        "kind": match.kind if match else None,
        "confidence": found.confidence,
        "candidates": list(found.candidates),
        "values": found.values,
        "replies": found.replies,
    }


def default_units(bus: BusSettings) -> str:
    """Every RS-485 address; over TCP also 255 (a KEBA answers only there)."""
    return "1-247" if isinstance(bus, RtuBusSettings) else "1-247,255"


def progress_bar(total: int) -> ProgressBar:
    return ProgressBar(sys.stderr, total)


def configured_line(bus: BusSettings) -> Line:
    if isinstance(bus, RtuBusSettings):
        return Line(bus.baud, bus.parity, bus.stop_bits)
    return Line()


async def scan_open_bus(
    plan: ScanPlan, bus: ModbusBus, progress: Progress | None = None
) -> ScanResult:
    """A scan through a bus the daemon has open: its probes wait in the bus's queue behind
    the daemon's writes and grid meter reads, and use the bus's own line setting.
    ``progress(probes done, probes in all, found)`` after each probe."""
    framing = "tcp" if isinstance(plan.bus, TcpBusSettings) else plan.bus.framing
    profiles = scannable(shipped_profiles(), framing)
    line = plan.lines[0]
    timing = DeviceTiming(plan.timeout_s, 0, plan.bus.min_gap_s)
    started_s = time.monotonic()
    total = len(plan.units)
    report = None
    if progress is not None:
        progress(0, total, 0)
        report = lambda done, n: progress(done, total, n)  # noqa: E731
    found = await scan_line(bus, line, plan.units, profiles, timing, progress=report)
    result = ScanResult(plan, found, len(plan.units), time.monotonic() - started_s)
    return result


def daemon_scanner(
    buses: dict[str, ModbusBus], settings: dict[str, BusSettings], progress: Progress | None = None
) -> Callable[[dict[str, Any]], Any]:
    """The status socket's POST /scan: ``{"bus", "units", "timeout_s"}`` → the scan's JSON."""

    async def scan(request: dict[str, Any]) -> dict[str, Any]:
        bus_id = str(request.get("bus"))
        if bus_id not in buses:
            raise ValueError(f"no bus {bus_id!r} (buses: {', '.join(buses) or 'none'})")
        units = parse_units(str(request.get("units", "1-247")))
        timeout_s = float(request.get("timeout_s", 0.3))
        if not 0 < timeout_s <= 5:
            raise ValueError("timeout_s must lie in (0, 5]")
        config = settings[bus_id]
        plan = ScanPlan(bus_id, config, [configured_line(config)], units, timeout_s)
        return to_json(await scan_open_bus(plan, buses[bus_id], progress))

    return scan


def result_from_json(plan: ScanPlan, data: dict[str, Any]) -> ScanResult:
    """A scan the daemon ran, back from its JSON (to print it as text here)."""
    found = []
    for device in data["devices"]:
        line = Line(**device["line"])
        match = None
        if device["profile"] is not None:
            identity = device["confidence"] == "high"
            match = Match(device["profile"], device["model"], device["kind"], identity, 0)
        found.append(
            Found(
                device["unit"],
                line,
                match,
                device["confidence"],
                tuple(device["candidates"]),
                device["values"],
                device["replies"],
            )
        )
    return ScanResult(plan, found, int(data["probes"]), float(data["elapsed_s"]))
