"""``bus_timing_report``: can each serial bus serve its devices' poll intervals? Pure.

Every device's traffic is planned exactly as the drivers and the daemon's pollers send it (the
same read blocks, a status poll per connector that reads the meter too when it is due, the
cyclic setpoint writes) and
replayed on the line's wire-time model (``traffic.py``). Lines starting with ``WARNING`` are
problems: polls the line cannot keep up with, and devices whose native framing, baud rate,
parity or stop bits differ from the bus.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, cast

from edge_controller.domain.model import IDLE_METER_INTERVAL_S
from edge_controller.drivers.modbus import pdu, wiretime
from edge_controller.drivers.modbus.charger import status_names
from edge_controller.drivers.modbus.config import (
    ChargerConfig,
    MeterConfig,
    RtuBusConfig,
    SerialLineConfig,
    SiteConfig,
    TcpBusConfig,
)
from edge_controller.drivers.modbus.device import read_blocks, write_request
from edge_controller.drivers.modbus.factory import device_profile
from edge_controller.drivers.modbus.traffic import (
    Exchange,
    Line,
    Loop,
    Poll,
    Setpoint,
    Traffic,
    replay,
)
from edge_controller.drivers.profiles.schema import MEASUREMENT_POINTS, Profile
from edge_controller.ports import NotSupported

SERIAL_TYPES = ("rtu", "rtu_over_tcp")
OVERLOADED = 0.9  # share of the time the bus is held above which routine reads queue up
LATE = 1.5  # a poller reading this much slower than asked is worth a warning


@dataclass(slots=True)
class BusPlan:
    """What the daemon sends on one bus, before the replay."""

    line: Line
    polls: list[Poll]
    setpoints: list[Setpoint]
    devices: list[str]


def _reads(profile: Profile, names: tuple[str, ...] | list[str], connector: int) -> list[Exchange]:
    exchanges = []
    for block in read_blocks(profile, names, connector):
        request = pdu.read_request(block.table, block.start, block.count)
        exchanges.append(Exchange(request[0], len(request), pdu.response_pdu_size(request)))
    return exchanges


def _charging_writes(profile: Profile, connector: int) -> tuple[Exchange, ...]:
    """A charging connector's cyclic write: its current setpoint (enable only on a change)."""
    point = profile.points.get("set_current")
    if point is None:
        return ()
    request = write_request(profile, "set_current", [0] * point.words, connector)  # sizes only
    return (Exchange(request[0], len(request), pdu.response_pdu_size(request)),)


def charger_traffic(
    charger_id: str, config: ChargerConfig, profile: Profile, *, ev_free: bool = False
) -> tuple[list[Poll], list[Setpoint]]:
    """Per connector: a status poller that reads the meter too when it is due (if the charger
    measures; in one request where the model's registers allow), and the cyclic write.
    ``ev_free``: no EV anywhere, so every meter is read at the idle interval."""
    polls, setpoints = [], []
    assert profile.status is not None  # the schema requires it for chargers
    measures = bool(set(MEASUREMENT_POINTS) & set(profile.points))
    meter_s = config.poll_interval_s
    if ev_free:
        meter_s = max(meter_s, IDLE_METER_INTERVAL_S)
    for n in range(1, config.connectors + 1):
        connector_id = f"{charger_id}:{n}"
        status = tuple(_reads(profile, status_names(profile.status), n))
        if not measures:
            names = [f"{connector_id} status"]
            polls.append(Poll(names[0], charger_id, status, config.poll_interval_s))
        else:
            # One poller: its meter comes along with the status poll nearest its interval.
            names = [f"{connector_id} status and meter"]
            both = _reads(profile, [*status_names(profile.status), *MEASUREMENT_POINTS], n)
            every = max(1, round(meter_s / config.poll_interval_s))
            poll = Poll(names[0], charger_id, status, config.poll_interval_s)
            polls.append(replace(poll, carried=tuple(both), carried_every=every))
        writes = _charging_writes(profile, n)
        every_s = config.failsafe_timeout_s / 3  # as the control loop feeds the watchdog
        # A value written again only for the watchdog asks for no early reads; with EVs each
        # write is counted as a new value that does (the busier case).
        refreshes = () if ev_free else tuple(names)
        setpoints.append(Setpoint(charger_id, writes, every_s, refreshes))
    return polls, setpoints


def meter_traffic(meter_id: str, config: MeterConfig, profile: Profile) -> list[Poll]:
    """The grid meter is polled (and jumps the queue); other meters are read only when a
    session starts or stops."""
    if config.role != "grid":
        return []
    reads = tuple(_reads(profile, MEASUREMENT_POINTS, 1))
    return [Poll(meter_id, meter_id, reads, config.poll_interval_s, urgent=True, grid=True)]


def plan_bus(
    settings: SiteConfig, bus_id: str, *, ev_free: bool = False
) -> tuple[BusPlan, list[str]]:
    """The daemon's traffic on one serial bus, and warnings about its devices: with every
    connector charging, its busiest steady state (``ev_free``: with no EV at all)."""
    bus = cast(SerialLineConfig, settings.buses[bus_id])
    polls: list[Poll] = []
    setpoints: list[Setpoint] = []
    gaps: dict[str, float] = {}
    warnings: list[str] = []
    devices: list[str] = []
    for charger_id, charger in settings.chargers.items():
        if charger.bus != bus_id or (profile := _profile(charger, "charger")) is None:
            continue
        charger_polls, charger_setpoints = charger_traffic(
            charger_id, charger, profile, ev_free=ev_free
        )
        polls += charger_polls
        setpoints += charger_setpoints
        gaps[charger_id] = max(bus.min_gap_s, profile.transport.min_gap_s)
        warnings += profile_warnings(bus_id, bus, charger_id, profile)
        devices.append(charger_id)
    for meter_id, meter in settings.meters.items():
        if meter.bus != bus_id or (profile := _profile(meter, "meter")) is None:
            continue
        polls += meter_traffic(meter_id, meter, profile)
        gaps[meter_id] = max(bus.min_gap_s, profile.transport.min_gap_s)
        warnings += profile_warnings(bus_id, bus, meter_id, profile)
        devices.append(meter_id)
    line = Line(bus.baud, bus.framing, bus.turnaround_s, bus.min_gap_s, gaps)
    return BusPlan(line, polls, setpoints, devices), warnings


def _profile(config: ChargerConfig | MeterConfig, kind: str) -> Profile | None:
    try:
        return device_profile(config, kind)
    except NotSupported:
        return None  # unknown profiles are reported by the config checks


def control_loop(settings: SiteConfig, bus_id: str) -> Loop:
    """When the control loop steps, as seen from this bus: on grid readings (replayed when the
    grid meter is on the bus, else at its poll interval), else every tick."""
    grid = [m for m in settings.meters.values() if m.role == "grid"]
    remote = [m.poll_interval_s for m in grid if m.bus != bus_id]
    return Loop(settings.site.tick_s, remote[0] if remote else None)


def _line_format(data_bits: int, parity: str, stop_bits: int) -> str:
    return f"{data_bits}{parity}{stop_bits}"


def profile_warnings(
    bus_id: str, bus: SerialLineConfig, device_id: str, profile: Profile
) -> list[str]:
    """The device's native line settings (its profile) against the bus's."""
    transport, who = profile.transport, f"{device_id} ({profile.name})"
    warnings = []
    if transport.framing == "tcp":
        warnings.append(f"WARNING bus {bus_id}: {who} speaks Modbus TCP only")
    elif transport.framing != bus.framing:
        warnings.append(
            f"WARNING bus {bus_id}: {who} speaks Modbus {transport.framing.upper()}, "
            f"the bus uses {bus.framing.upper()} (set framing: {transport.framing})"
        )
    if transport.baud and transport.baud != bus.baud:
        warnings.append(
            f"WARNING bus {bus_id}: {who} ships at {transport.baud} baud, the bus runs {bus.baud}"
        )
    if bus.type == "rtu":  # a serial gateway sets its own line format; nothing to compare
        warnings += _format_warnings(bus_id, cast(RtuBusConfig, bus), who, profile)
    return warnings


def _format_warnings(bus_id: str, bus: RtuBusConfig, who: str, profile: Profile) -> list[str]:
    parity = profile.transport.parity or bus.parity
    stop_bits = profile.transport.stop_bits or bus.stop_bits
    if (parity, stop_bits) == (bus.parity, bus.stop_bits):
        return []
    device = _line_format(bus.data_bits, parity, stop_bits)
    line = _line_format(bus.data_bits, bus.parity, bus.stop_bits)
    return [
        f"WARNING bus {bus_id}: {who} ships as {device}, the bus runs {line}: it will not "
        f"understand a frame; set the device to {line} (or the bus to parity: {parity}, "
        f"stop_bits: {stop_bits} if every device on it is {device})"
    ]


def poll_line_s(poll: Poll, line: Line) -> float:
    """Line time of one poll alone: its exchanges and the silence or gap after each."""
    gap_s = max(line.gap_s, line.device_gaps_s.get(poll.device_id, 0.0))
    framing: Literal["rtu", "ascii"] = "ascii" if line.framing == "ascii" else "rtu"
    return sum(
        wiretime.transaction_s(
            line.baud,
            e.request_pdu_bytes,
            e.reply_pdu_bytes,
            turnaround_s=line.turnaround_s,
            gap_s=gap_s,
            framing=framing,
        )
        for e in poll.exchanges
    )


def _bus_lines(bus_id: str, bus: SerialLineConfig, plan: BusPlan, traffic: Traffic) -> list[str]:
    sweep_s = sum(poll_line_s(poll, plan.line) for poll in plan.polls)
    total = sum(traffic.requests_per_s(device) for device in plan.devices)
    lines = [
        f"bus {bus_id}: {bus.framing} {bus.baud} baud, {len(plan.devices)} device(s), "
        f"{total:.1f} requests/s, sweep {sweep_s:.3f} s, line load {traffic.load * 100:.0f} %"
    ]
    for device in plan.devices:
        periods = [
            f"{'read' if poll.name == device else poll.name} every {_period(traffic, poll)}"
            for poll in plan.polls
            if poll.device_id == device
        ]
        lines.append(
            f"bus {bus_id} {device}: {traffic.requests_per_s(device):.1f} requests/s"
            + (f" ({', '.join(periods)})" if periods else " (read at session start and stop)")
        )
    return lines


def _period(traffic: Traffic, poll: Poll) -> str:
    period = traffic.period_s(poll.name)
    return f"{period:.2f} s" if period else f"> {traffic.seconds:g} s"


def _bus_warnings(bus_id: str, plan: BusPlan, traffic: Traffic) -> list[str]:
    lines = []
    if traffic.load > OVERLOADED:
        lines.append(
            f"WARNING bus {bus_id}: the line is busy {traffic.load * 100:.0f} % of the time; "
            "chargers' routine reads will be round-robined (the grid meter keeps priority) — "
            "raise poll intervals, the baud rate, or split the bus"
        )
    late: list[tuple[float, Poll]] = []
    for poll in plan.polls:
        poll_s, period = poll_line_s(poll, plan.line), traffic.period_s(poll.name)
        if poll_s > poll.interval_s:
            what = "the grid meter alone" if poll.grid else poll.name
            lines.append(
                f"WARNING bus {bus_id}: {what} needs {poll_s:.3f} s per poll "
                f"but is polled every {poll.interval_s:g} s"
            )
        elif period is None or period > LATE * poll.interval_s:
            late.append((period or float("inf"), poll))
    if late:
        _period_s, slowest = max(late, key=lambda entry: entry[0] / entry[1].interval_s)
        period = traffic.period_s(slowest.name)
        how = f"every {period:.2f} s" if period else f"not once in {traffic.seconds:g} s"
        lines.append(
            f"WARNING bus {bus_id}: {len(late)} poller(s) read more than {LATE:g}x slower than "
            f"asked; slowest {slowest.name}: {how} (poll_interval_s {slowest.interval_s:g})"
        )
    return lines


def _shared_endpoints(settings: SiteConfig) -> list[str]:
    """Two buses on one host:port would open two connections to one device or gateway."""
    seen: dict[tuple[str, int], str] = {}
    lines = []
    for bus_id, bus in settings.buses.items():
        if bus.type not in ("tcp", "rtu_over_tcp"):
            continue
        tcp = cast(TcpBusConfig, bus)
        other = seen.setdefault((tcp.host, tcp.port), bus_id)
        if other != bus_id:
            lines.append(
                f"WARNING bus {bus_id}: {tcp.host}:{tcp.port} is also bus {other}; "
                "put the devices on one bus so they share one connection"
            )
    return lines


def bus_traffic(
    settings: SiteConfig, bus_id: str, *, ev_free: bool = False
) -> tuple[BusPlan, Traffic]:
    """The daemon's steady traffic on one serial bus, replayed (for the report and tests);
    ``ev_free`` as for ``plan_bus``."""
    plan, _warnings = plan_bus(settings, bus_id, ev_free=ev_free)
    return plan, replay(plan.line, plan.polls, plan.setpoints, control_loop(settings, bus_id))


def bus_timing_report(settings: SiteConfig) -> list[str]:
    """Lines for ``check-config``: per serial bus its requests and line load, per device its
    request rate and how often each poller reads, and warnings."""
    lines: list[str] = _shared_endpoints(settings)
    for bus_id, bus in settings.buses.items():
        if bus.type not in SERIAL_TYPES:
            continue
        plan, warnings = plan_bus(settings, bus_id)
        traffic = replay(plan.line, plan.polls, plan.setpoints, control_loop(settings, bus_id))
        serial = cast(SerialLineConfig, bus)
        lines += _bus_lines(bus_id, serial, plan, traffic)
        lines += _bus_warnings(bus_id, plan, traffic) + warnings
    return lines
