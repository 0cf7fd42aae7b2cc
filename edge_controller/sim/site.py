"""``serve_site``: every simulated device of a site config on its own Modbus server.

Devices sharing a bus share one server (one TCP port, or one pty pair for an RTU line) and
answer by unit id. The physics steps every ``simulation.tick_s``; the control interface
(HTTP/JSON, see README.md) runs alongside. Cancelling stops everything and kills socat.
"""

from __future__ import annotations

import asyncio
import contextlib
import termios
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from edge_controller.config.settings import (
    RtuBusSettings,
    RtuOverTcpBusSettings,
    Settings,
    SimulationSettings,
    TcpBusSettings,
)
from edge_controller.drivers.modbus.trace import TraceError
from edge_controller.log import get_logger
from edge_controller.sim.binding import check_bind, is_loopback
from edge_controller.sim.control_api import control_app
from edge_controller.sim.devices import DeviceSim
from edge_controller.sim.line_sense import LineSense
from edge_controller.sim.modbus_server import (
    SimContext,
    SimRtuOverTcpServer,
    SimRtuServer,
    SimTcpServer,
    WireTiming,
)
from edge_controller.sim.pty_pair import pty_pair
from edge_controller.sim.replay import ReplayDevice
from edge_controller.sim.sim_site import SimSite, SimStartError
from edge_controller.sim.site_build import build_sim_site
from edge_controller.sim.zvt_terminal import NUMERIC_CURRENCY, SimulatedZvtTerminal

_log = get_logger("sim")
Server = SimTcpServer | SimRtuServer | SimRtuOverTcpServer


@dataclass(slots=True)
class RunningSim:
    """Handles on a running simulator (for tests and the demo)."""

    settings: Settings
    site: SimSite
    control_url: str
    clock: Callable[[], float]
    servers: dict[str, Server] = field(default_factory=dict)  # by bus id
    pty_paths: dict[str, str] = field(default_factory=dict)  # bus id → controller-side device
    terminals: dict[str, SimulatedZvtTerminal] = field(default_factory=dict)  # by terminal id


def _require_loopback(bus_id: str, host: str) -> None:
    if not is_loopback(host):
        raise SimStartError(f"simulated bus {bus_id!r} must use a loopback host, not {host!r}")


def devices_by_bus(settings: Settings, site: SimSite) -> dict[str, dict[int, DeviceSim]]:
    buses: dict[str, dict[int, DeviceSim]] = {}
    for charger_id, charger in site.chargers.items():
        config = settings.chargers[charger_id]
        buses.setdefault(config.bus, {})[config.unit_id] = charger
    for meter_id, meter in site.meters.items():
        meter_config = settings.meters[meter_id]
        buses.setdefault(meter_config.bus, {})[meter_config.unit_id] = meter
    return buses


def replays_by_bus(settings: Settings) -> dict[str, dict[int, ReplayDevice]]:
    """The recorded traces served as devices (``simulation.replay``), by bus and unit id."""
    buses: dict[str, dict[int, ReplayDevice]] = {}
    for replay in settings.simulation.replay:
        if replay.bus not in settings.buses:
            raise SimStartError(f"simulation.replay: no bus {replay.bus!r}")
        unit = replay.trace_unit if replay.trace_unit is not None else replay.unit_id
        try:
            device = ReplayDevice.from_file(replay.trace, unit)
        except TraceError as exc:
            raise SimStartError(f"simulation.replay: {exc}") from exc
        buses.setdefault(replay.bus, {})[replay.unit_id] = device
    return buses


async def _make_server(
    stack: contextlib.AsyncExitStack,
    bus_id: str,
    bus: TcpBusSettings | RtuBusSettings | RtuOverTcpBusSettings,
    context: SimContext,
    sim: SimulationSettings,
) -> tuple[Server, str | None]:
    """The server for one bus, and the pty the controller opens (RTU lines only)."""
    wire = None
    if isinstance(bus, RtuBusSettings | RtuOverTcpBusSettings) and sim.wire_timing:
        wire = WireTiming(bus.baud, bus.turnaround_s)
    if isinstance(bus, RtuBusSettings):
        sim_side, _process = await stack.enter_async_context(
            pty_pair(bus.device, sim.pty_suffix, sim.socat_path)
        )
        unit_bauds = {
            unit: sim.device_baud[device.device_id]
            for unit, device in context.devices.items()
            if device.device_id in sim.device_baud
        }
        line = LineSense(bus.device, bus.baud, unit_bauds)
        stack.callback(line.close)
        server = SimRtuServer(
            context,
            port=sim_side,
            baud=bus.baud,
            parity="N",  # a pty carries bytes, not bits; Linux refuses PARENB on a pty
            stop_bits=bus.stop_bits,
            data_bits=bus.data_bits,
            wire=wire,
            ascii_framing=bus.framing == "ascii",
            line=line,
        )
        return server, bus.device
    _require_loopback(bus_id, bus.host)
    if isinstance(bus, TcpBusSettings):
        return SimTcpServer(context, bus.host, bus.port), None
    ascii_framing = bus.framing == "ascii"
    return SimRtuOverTcpServer(context, bus.host, bus.port, wire, ascii_framing), None


async def _start_bus(
    stack: contextlib.AsyncExitStack,
    bus_id: str,
    settings: Settings,
    context: SimContext,
    running: RunningSim,
) -> None:
    bus = settings.buses[bus_id]
    server, pty = await _make_server(stack, bus_id, bus, context, settings.simulation)
    stack.push_async_callback(server.shutdown)
    try:
        await server.serve_forever(background=True)
    except (RuntimeError, OSError, termios.error) as exc:  # e.g. "Could not start listen"
        raise SimStartError(f"cannot serve simulated bus {bus_id!r}: {exc}") from exc
    if not server.is_active():
        raise SimStartError(f"cannot serve simulated bus {bus_id!r}")
    running.servers[bus_id] = server
    if pty is not None:
        running.pty_paths[bus_id] = pty
    _log.info("sim_bus_serving", bus=bus_id, type=bus.type, units=sorted(context.devices))


async def _start_terminals(
    stack: contextlib.AsyncExitStack, settings: Settings, running: RunningSim
) -> None:
    """A simulated ZVT terminal on the configured address of each ``simulated: true`` one."""
    for terminal_id, config in settings.payments.terminals.items():
        if not config.simulated:
            continue
        _require_loopback(f"payments.terminals.{terminal_id}", config.host)
        password = int(config.password.get_secret_value()) if config.password else 0
        terminal = SimulatedZvtTerminal(password, NUMERIC_CURRENCY[config.currency])
        # a terminal that arms itself waits for the card holder, as a real one does (one
        # armed by a press approves at once, the press standing for the card presented)
        terminal.wait_for_card = config.auto_arm
        try:
            await terminal.start(config.host, config.port)
        except OSError as exc:
            raise SimStartError(f"cannot serve simulated terminal {terminal_id!r}: {exc}") from exc
        stack.push_async_callback(terminal.stop)
        running.terminals[terminal_id] = terminal
        _log.info("sim_terminal_serving", terminal=terminal_id, port=terminal.port)


async def _start_control(
    stack: contextlib.AsyncExitStack,
    sim: SimulationSettings,
    site: SimSite,
    clock: Callable[[], float],
    terminals: dict[str, SimulatedZvtTerminal],
) -> str:
    app = control_app(site, clock, sim.ev_profiles, terminals=terminals)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    tcp = web.TCPSite(runner, sim.control_host, sim.control_port)
    await tcp.start()
    port = runner.addresses[0][1] if runner.addresses else sim.control_port
    return f"http://{sim.control_host}:{port}"


async def _tick(site: SimSite, clock: Callable[[], float], interval_s: float) -> None:
    while True:
        site.step(clock())
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def running_site(
    settings: Settings, clock: Callable[[], float] = time.time, *, allow_remote: bool = False
) -> AsyncIterator[RunningSim]:
    """Start every simulated device and the control interface; stop them all on exit. The
    control interface listens beyond loopback only with ``allow_remote``."""
    sim = settings.simulation
    check_bind(sim.control_host, "the simulator's control interface", allow_remote)
    site = build_sim_site(settings, clock(), utc_offset_s=float(time.localtime().tm_gmtoff))
    terminals = [t for t in settings.payments.terminals.values() if t.simulated]
    if not site.devices and not sim.replay and not terminals:
        raise SimStartError("no device is marked simulated: true and no trace is replayed")
    async with contextlib.AsyncExitStack() as stack:
        served_terminals: dict[str, SimulatedZvtTerminal] = {}  # filled as they start
        control_url = await _start_control(stack, sim, site, clock, served_terminals)
        running = RunningSim(settings, site, control_url, clock, terminals=served_terminals)
        replays = replays_by_bus(settings)
        served = devices_by_bus(settings, site)
        for bus_id in sorted(set(served) | set(replays)):
            context = SimContext(served.get(bus_id, {}), clock, replays.get(bus_id))
            await _start_bus(stack, bus_id, settings, context, running)
        await _start_terminals(stack, settings, running)
        body_error: BaseException | None = None
        async with asyncio.TaskGroup() as group:
            ticker = group.create_task(_tick(site, clock, sim.tick_s))
            try:
                yield running
            except BaseException as exc:  # re-raised below as itself, not in an ExceptionGroup
                body_error = exc
            finally:
                ticker.cancel()
        if body_error is not None:
            raise body_error


async def serve_site(settings: Settings, *, allow_remote: bool = False) -> None:
    """Serve every device marked ``simulated: true`` until cancelled."""
    async with running_site(settings, allow_remote=allow_remote) as running:
        _log.info("sim_ready", control_url=running.control_url, buses=sorted(running.servers))
        await asyncio.Event().wait()
