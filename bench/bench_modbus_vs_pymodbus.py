"""Our Modbus client (bus, scheduler, framing, links) against pymodbus's async clients, same run.

The peer is the project's simulator (``edge-controller simulate``) in its own process: a
Heidelberg Energy Control on Modbus TCP (loopback) and on two RTU lines (socat pty pairs) at
19200 and 9600 baud with ``wire_timing`` on, so every RTU answer arrives when it would on a real
line. Each client reads the device's 10 input registers 5..14 (FC 04, the poll the daemon makes;
a read of 10 holding registers has the same size on the wire). Rounds alternate between the
clients so machine noise hits them alike; on a pty only one client has the port open at a time.

- ``ours``: ``ModbusBus`` + ``DeviceChannel`` (the queue, the line silence, retries, statistics);
- ``pymodbus``: ``AsyncModbusTcpClient`` / ``AsyncModbusSerialClient`` ``read_input_registers``;
- ``pymodbus + t3.5`` (RTU): the same, waiting the 3.5-character silence after each answer
  before the next request (pymodbus sends at once; the Modbus serial line asks for the silence).

Figures: ``read_ms`` p50/p99 of one read while one caller reads back to back; ``reads_per_s`` at
saturation (one caller, and eight callers sharing the connection); ``efficiency`` on RTU: reads/s
times the wire-time model's transaction time (``drivers/modbus/wiretime.py``; 1.0 = the line
never idle; above 1.0 only by skipping the silence); ``cpu_us`` per read (this process only:
the simulator runs in another). Faults: the simulator garbles answers (``corrupt``: bad CRC on
RTU, bad MBAP header on TCP) or stays silent (``no_answer``) for 1.5 s while one caller reads
with a 0.3 s timeout and no retries; ``recovery_ms`` is from the fault's end to the first good
answer (median of the trials), ``failed`` the failed reads per trial (a failed read is tried
again after 10 ms, as a poller would). Cancellation: a read is cancelled at a random moment of
its exchange, then two reads of other sizes follow at once; ``reads_wrong`` counts answers that
belong to another request. Torn frames: on a pty of its own a responder splits one answer in
three into halves 5 ms apart and cuts the next after its first half; ``reads_wrong`` counts reads
whose registers are not their own answer's (the n-th answer holds n). Memory:
``bench/footprint.py``, each client in a process of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import random
import statistics
import tempfile
import time
import tty
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from bench import footprint
from edge_controller.drivers.modbus import framing, wiretime
from edge_controller.drivers.modbus.bus import DeviceTiming, LineTiming, ModbusBus
from edge_controller.drivers.modbus.links import SerialLink, TcpLink
from edge_controller.drivers.modbus.pdu import parse_read_response, read_request
from edge_controller.drivers.modbus.transport import Transport
from edge_controller.log import configure as configure_logging
from edge_controller.ports import DeviceError
from edge_controller.sim.control_client import SimControlClient
from tests.e2e.procs import Proc, edge_controller, wait_control_url
from tests.e2e.site import write_config
from tests.ports import free_port

ADDRESS, REGISTERS, UNIT = 5, 10, 1
BAUDS = (19200, 9600)
ROUNDS = 4
ROUND_S = 2.0
CALLERS = 8
FAULT_S = 1.5
FAULT_TIMEOUT_S = 0.3
FAULT_TRIALS = 3
RETRY_PAUSE_S = 0.01
SHORT = 2
CANCEL_TRIALS = 40
CANCEL_TIMEOUT_S = 0.5
TORN_READS = 60
TORN_TIMEOUT_S = 0.3
REQUEST_BYTES = 8  # an RTU FC 04 request
Read = Callable[[int], Awaitable[list[int]]]  # registers ADDRESS.. (count)


class ReadFailed(Exception):
    """One read did not return registers (timeout, garbage, exception reply)."""


def _site(work: Path) -> dict[str, Any]:
    chargers: dict[str, Any] = {}
    buses: dict[str, Any] = {"lan": {"type": "tcp", "host": "127.0.0.1", "port": free_port()}}
    for baud in BAUDS:
        buses[f"rtu{baud}"] = {
            "type": "rtu", "device": str(work / f"tty{baud}"), "baud": baud, "parity": "N",
        }  # fmt: skip
    for bus in buses:
        chargers[f"hd_{bus}"] = {
            "bus": bus, "unit_id": UNIT, "profile": "heidelberg_energy_control",
            "max_current_a": 16, "simulated": True,
        }  # fmt: skip
    return {
        "site": {"id": "bench", "grid_limit_a": 63},
        "buses": buses,
        "chargers": chargers,
        "simulation": {"control_port": free_port(), "wire_timing": True},
    }


@dataclass
class Client:
    """One client's open connection: ``read`` returns the registers or raises ReadFailed."""

    name: str
    read: Read


@contextlib.asynccontextmanager
async def _ours(bus_config: dict[str, Any], timeout_s: float) -> AsyncIterator[Client]:
    if bus_config["type"] == "tcp":
        link: TcpLink | SerialLink = TcpLink(bus_config["host"], bus_config["port"], 2.0)
        bus = ModbusBus("bench", Transport(link, "tcp"))
    else:
        baud = bus_config["baud"]
        link = SerialLink(bus_config["device"], baud, "N", 1, 8)
        bus = ModbusBus("bench", Transport(link, "rtu"), LineTiming(baud))
    async with bus:
        channel = bus.attach("hd", UNIT, DeviceTiming(timeout_s=timeout_s, retries=0))

        async def read(count: int) -> list[int]:
            request = read_request("input", ADDRESS, count)
            try:
                reply = await channel.request(request)
            except DeviceError as exc:
                raise ReadFailed(str(exc)) from exc
            return parse_read_response(request, reply)

        yield Client("ours", read)


@contextlib.asynccontextmanager
async def _pymodbus(
    bus_config: dict[str, Any], timeout_s: float, silence: bool
) -> AsyncIterator[Client]:
    client: AsyncModbusTcpClient | AsyncModbusSerialClient
    if bus_config["type"] == "tcp":
        client = AsyncModbusTcpClient(
            bus_config["host"], port=bus_config["port"], timeout=timeout_s, retries=0
        )
        pause_s = 0.0
    else:
        baud = bus_config["baud"]
        client = AsyncModbusSerialClient(
            bus_config["device"], baudrate=baud, parity="N", timeout=timeout_s, retries=0
        )
        pause_s = wiretime.silence_s(baud) if silence else 0.0
    if not await client.connect():
        raise RuntimeError(f"pymodbus could not connect to {bus_config}")
    name = "pymodbus + t3.5" if silence else "pymodbus"

    async def read(count: int) -> list[int]:
        try:
            # The guard only keeps the bench going should a read never return.
            async with asyncio.timeout(4 * timeout_s + 1):
                reply = await client.read_input_registers(ADDRESS, count=count, device_id=UNIT)
        except (ModbusException, TimeoutError) as exc:
            raise ReadFailed(str(exc)) from exc
        finally:
            if pause_s:
                await asyncio.sleep(pause_s)
        if reply.isError():
            raise ReadFailed(str(reply))
        return list(reply.registers)

    try:
        yield Client(name, read)
    finally:
        client.close()


def _openers(
    bus_config: dict[str, Any], timeout_s: float
) -> list[Callable[[], contextlib.AbstractAsyncContextManager[Client]]]:
    openers = [
        lambda: _ours(bus_config, timeout_s),
        lambda: _pymodbus(bus_config, timeout_s, silence=False),
    ]
    if bus_config["type"] == "rtu":
        openers.append(lambda: _pymodbus(bus_config, timeout_s, silence=True))
    return openers


@dataclass
class Tally:
    reads: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)


async def _saturate(client: Client, callers: int, seconds: float, tally: Tally) -> None:
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await client.read(REGISTERS)
            except ReadFailed:
                tally.failed += 1
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            tally.latencies_s.append(time.perf_counter() - started)
            tally.reads += 1

    cpu, started = time.process_time(), time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(callers):
            group.create_task(loop())
    tally.elapsed_s += time.perf_counter() - started
    tally.cpu_s += time.process_time() - cpu


async def _throughput(bus_id: str, bus_config: dict[str, Any]) -> list[dict[str, Any]]:
    openers = _openers(bus_config, 1.0)
    modes = (1, CALLERS) if bus_config["type"] == "tcp" else (1,)
    tallies: dict[tuple[int, str], Tally] = {}
    for round_no in range(ROUNDS):
        order = openers[round_no % len(openers) :] + openers[: round_no % len(openers)]
        for opener in order:
            async with opener() as client:
                await _saturate(client, 1, 0.2, Tally())  # warm up, port settled
                for callers in modes:
                    tally = tallies.setdefault((callers, client.name), Tally())
                    await _saturate(client, callers, ROUND_S, tally)
    model_s = None
    if bus_config["type"] == "rtu":
        model_s = wiretime.transaction_s(bus_config["baud"], 5, 2 + 2 * REGISTERS)
    return [
        _row(bus_id, callers, name, tally, model_s=model_s, ours=tallies[(callers, "ours")])
        for (callers, name), tally in tallies.items()
    ]


def _row(
    bus_id: str, callers: int, name: str, tally: Tally, *, model_s: float | None, ours: Tally
) -> dict[str, Any]:
    ordered = sorted(tally.latencies_s)
    rate = tally.reads / tally.elapsed_s
    row: dict[str, Any] = {
        "case": f"{_label(bus_id)}, {callers} caller{'s' if callers > 1 else ''}",
        "client": name,
        "read_ms_p50": round(statistics.median(ordered) * 1000, 3),
        "read_ms_p99": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 3),
        "reads_per_s": round(rate, 1),
        "vs_ours": round(rate / (ours.reads / ours.elapsed_s), 3),
        "cpu_us": round(tally.cpu_s / max(tally.reads, 1) * 1e6, 1),
        "failed": tally.failed,
    }
    if model_s is not None:
        row["efficiency"] = round(rate * model_s, 3)
        row["model_reads_per_s"] = round(1 / model_s, 1)
    return row


def _label(bus_id: str) -> str:
    return "tcp" if bus_id == "lan" else f"rtu {bus_id.removeprefix('rtu')} baud"


async def _fault_trial(
    client: Client, control: SimControlClient, device: str, kind: str
) -> tuple[float, int]:
    """Read back to back through a fault; (seconds from its end to the next good answer,
    failed reads)."""
    successes: list[float] = []
    failed = 0
    stop = asyncio.Event()

    async def reader() -> None:
        nonlocal failed
        while not stop.is_set():
            try:
                await client.read(REGISTERS)
            except ReadFailed:
                failed += 1
                # A poller waits a little after a failure; a client that fails without awaiting
                # anything (disconnected) would otherwise starve the event loop.
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            successes.append(time.time())

    task = asyncio.create_task(reader())
    try:
        await asyncio.sleep(0.3)
        await control.inject_fault(device, kind, duration_s=FAULT_S)
        # The simulator's clock is the wall clock of this machine, as ours.
        (fault,) = (await control.device(device))["faults"]
        fault_end_s = float(fault["since_s"]) + FAULT_S
        await asyncio.sleep(max(0.0, fault_end_s - time.time()) + 1.5)
    finally:
        stop.set()
        await task
    after = [t for t in successes if t >= fault_end_s]
    recovery_s = (after[0] - fault_end_s) if after else float("inf")
    return recovery_s, failed


async def _faults(
    bus_id: str, bus_config: dict[str, Any], control: SimControlClient
) -> list[dict[str, Any]]:
    rows = []
    device = f"hd_{bus_id}"
    for kind in ("corrupt", "no_answer"):
        results: dict[str, list[tuple[float, int]]] = {}
        for trial in range(FAULT_TRIALS):
            openers = _openers(bus_config, FAULT_TIMEOUT_S)[:2]  # the t3.5 wait changes nothing
            order = openers if trial % 2 == 0 else openers[::-1]
            for opener in order:
                async with opener() as client:
                    await client.read(REGISTERS)
                    outcome = await _fault_trial(client, control, device, kind)
                    results.setdefault(client.name, []).append(outcome)
        for name, outcomes in results.items():
            rows.append(
                {
                    "case": f"{_label(bus_id)}, {kind} {FAULT_S:g} s",
                    "client": name,
                    "recovery_ms": round(statistics.median(r for r, _ in outcomes) * 1000, 1),
                    "recovery_ms_max": round(max(r for r, _ in outcomes) * 1000, 1),
                    "failed": round(statistics.mean(f for _, f in outcomes), 1),
                }
            )
    return rows


async def _cancel_trial(client: Client, rng: random.Random, wire_s: float) -> list[str]:
    """A read cancelled while its answer may be on the way, then at once a read of 2 registers
    and one of 10: each answered with its own registers ("right"), someone else's ("wrong") or
    not at all ("failed")."""
    first = asyncio.create_task(client.read(REGISTERS))
    await asyncio.sleep(rng.uniform(0.0, wire_s))
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError, ReadFailed):
        await first
    outcomes = []
    for count in (SHORT, REGISTERS):
        try:
            registers = await client.read(count)
        except ReadFailed:
            outcomes.append("failed")
        else:
            outcomes.append("right" if len(registers) == count else "wrong")
    return outcomes


async def _cancellation(bus_id: str, bus_config: dict[str, Any]) -> list[dict[str, Any]]:
    rng = random.Random(15)
    if bus_config["type"] == "tcp":
        wire_s = 0.002  # a loopback answer takes well under this
    else:
        wire_s = wiretime.transaction_s(bus_config["baud"], 5, 2 + 2 * REGISTERS)
    rows = []
    for opener in _openers(bus_config, CANCEL_TIMEOUT_S)[:2]:
        counts = dict.fromkeys(("right", "wrong", "failed"), 0)
        async with opener() as client:
            await client.read(REGISTERS)
            for _ in range(CANCEL_TRIALS):
                for outcome in await _cancel_trial(client, rng, wire_s):
                    counts[outcome] += 1
            name = client.name
        rows.append(
            {
                "case": f"{_label(bus_id)}, cancelled read then 2 reads x{CANCEL_TRIALS}",
                "client": name,
                **{f"reads_{k}": v for k, v in counts.items()},
            }
        )
    return rows


def _torn_responder(master_fd: int, stop: Event) -> None:
    """Answer FC 04 requests on a pty: the n-th answer's registers all hold n. Of every three
    answers one comes whole, one in two halves 5 ms apart (a USB adapter's split, longer than
    the 3.5-character silence), one cut after its first half (the rest never comes)."""
    os.set_blocking(master_fd, True)
    buffer, served = b"", 0
    while not stop.is_set():
        buffer += os.read(master_fd, 256)
        while len(buffer) >= REQUEST_BYTES:
            request, buffer = buffer[:REQUEST_BYTES], buffer[REQUEST_BYTES:]
            count = int.from_bytes(request[4:6], "big")
            data = (served & 0xFFFF).to_bytes(2, "big") * count
            reply = framing.rtu_frame(request[0], bytes([4, 2 * count]) + data)
            half = len(reply) // 2
            if served % 3 == 0:
                os.write(master_fd, reply)
            elif served % 3 == 1:
                os.write(master_fd, reply[:half])
                time.sleep(0.005)
                os.write(master_fd, reply[half:])
            else:
                os.write(master_fd, reply[:half])
            served += 1


async def _torn(baud: int) -> list[dict[str, Any]]:
    rows = []
    for name in ("ours", "pymodbus"):
        master, slave = os.openpty()
        tty.setraw(slave)
        stop = multiprocessing.Event()
        responder = multiprocessing.Process(
            target=_torn_responder, args=(master, stop), daemon=True
        )
        responder.start()
        bus_config = {"type": "rtu", "device": os.ttyname(slave), "baud": baud}
        counts = dict.fromkeys(("right", "wrong", "failed"), 0)
        try:
            opener = _ours if name == "ours" else functools.partial(_pymodbus, silence=False)
            async with opener(bus_config, TORN_TIMEOUT_S) as client:
                for n in range(TORN_READS):
                    try:
                        registers = await client.read(REGISTERS)
                    except ReadFailed:
                        counts["failed"] += 1
                    else:
                        counts["right" if registers == [n] * REGISTERS else "wrong"] += 1
        finally:
            stop.set()
            responder.kill()
            responder.join()
            os.close(master)
            os.close(slave)
        rows.append(
            {
                "case": f"rtu {baud} baud, 1 in 3 answers split, 1 in 3 cut short x{TORN_READS}",
                "client": name,
                **{f"reads_{k}": v for k, v in counts.items()},
            }
        )
    return rows


def _footprints(config: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for bus_id in ("lan", f"rtu{BAUDS[0]}"):
        for name in ("ours", "pymodbus"):
            figures = footprint.measure("modbus", name, config["buses"][bus_id])
            rows.append({"case": f"{_label(bus_id)}, memory", "client": name, **figures})
    return rows


async def _all(work: Path) -> list[dict[str, Any]]:
    config = _site(work)
    config_path = write_config(config, work / "site.yaml")
    sim: Proc = edge_controller("simulate", config_path, "sim", work / "sim.log")
    try:
        url = await asyncio.to_thread(wait_control_url, sim)
        rows: list[dict[str, Any]] = []
        async with SimControlClient(url, timeout_s=10.0) as control:
            for bus_id, bus_config in config["buses"].items():
                rows += await _throughput(bus_id, bus_config)
            for bus_id in ("lan", f"rtu{BAUDS[0]}"):
                rows += await _faults(bus_id, config["buses"][bus_id], control)
            for bus_id in ("lan", f"rtu{BAUDS[1]}"):
                rows += await _cancellation(bus_id, config["buses"][bus_id])
        rows += await _torn(BAUDS[0])
        rows += await asyncio.to_thread(_footprints, config)
        if not sim.alive():
            raise RuntimeError(f"the simulator stopped\n{sim.tail()}")
        return rows
    finally:
        sim.stop()


def run() -> list[dict[str, Any]]:
    configure_logging("warning")  # connection notices would drown the table
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # one error line per failed read
    with tempfile.TemporaryDirectory(prefix="bench-pymodbus-") as tmp:
        return asyncio.run(_all(Path(tmp)))


if __name__ == "__main__":
    for row in run():
        print(row)
