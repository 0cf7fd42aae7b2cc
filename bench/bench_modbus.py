"""Modbus bus benchmark.

- rtu efficiency: reads of 10 input registers through the bus (scheduler, framing, serial link)
  against a responder in another process on a pty pair that delays each answer by the true wire
  time at the baud rate (request + 3.5-char silence + reply). Achieved transactions/s divided by
  the wire-time model's limit (``efficiency``; the target is >= 0.9), and the same for the median
  transaction (``efficiency_median``), which other load on a shared machine disturbs less.
- tcp: requests/s and CPU microseconds per request (this process only; the pyModbusTCP server runs
  in another process) for 1 device, 50 devices on their own connections, and 50 unit ids sharing
  one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import statistics
import time
from multiprocessing.synchronize import Event
from typing import Any

from edge_controller.drivers.modbus import wiretime
from edge_controller.drivers.modbus.bus import DeviceChannel, DeviceTiming, LineTiming, ModbusBus
from edge_controller.drivers.modbus.framing import crc16, rtu_frame
from edge_controller.drivers.modbus.links import SerialLink, TcpLink
from edge_controller.drivers.modbus.pdu import read_request
from edge_controller.drivers.modbus.transport import Transport
from edge_controller.log import configure as configure_logging
from edge_controller.ports import DeviceError

REGISTERS = 10
RTU_SECONDS = 4.0
TCP_SECONDS = 3.0
BAUDS = (9600, 19200, 115200)


def _sleep_until(deadline: float) -> None:
    """Sleep to ``deadline`` (perf_counter) exactly: the OS sleep can overshoot by a lot."""
    coarse_s = deadline - time.perf_counter() - 0.002
    if coarse_s > 0:
        time.sleep(coarse_s)
    while time.perf_counter() < deadline:
        pass


def _wire_timed_responder(master_fd: int, baud: int, stop: Event) -> None:
    """Answer every 8-byte FC 04 request after the wire time the exchange takes at ``baud``."""
    os.set_blocking(master_fd, True)
    reply_pdu = bytes([4, 2 * REGISTERS]) + bytes(range(2 * REGISTERS))
    buffer = b""
    while not stop.is_set():
        buffer += os.read(master_fd, 256)
        arrived = time.perf_counter()
        while len(buffer) >= 8:
            request, buffer = buffer[:8], buffer[8:]
            if crc16(request[:-2]) != int.from_bytes(request[-2:], "little"):
                buffer = b""
                break
            reply = rtu_frame(request[0], reply_pdu)
            delay_s = (
                wiretime.frame_time_s(baud, len(request))
                + wiretime.silence_s(baud)
                + wiretime.frame_time_s(baud, len(reply))
            )
            _sleep_until(arrived + delay_s)
            os.write(master_fd, reply)


async def _hammer(
    channels: list[DeviceChannel], seconds: float, finished: list[float] | None = None
) -> int:
    request = read_request("input", 0, REGISTERS)
    deadline = time.monotonic() + seconds
    done = 0

    async def loop(channel: DeviceChannel) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            try:
                await channel.request(request)
            except DeviceError:
                continue  # counted in the device statistics; reported as errors
            done += 1
            if finished is not None:
                finished.append(time.perf_counter())

    async with asyncio.TaskGroup() as group:
        for channel in channels:
            group.create_task(loop(channel))
    return done


async def _rtu_row(baud: int) -> dict[str, Any]:
    master, slave = os.openpty()
    stop = multiprocessing.Event()
    responder = multiprocessing.Process(
        target=_wire_timed_responder, args=(master, baud, stop), daemon=True
    )
    responder.start()
    try:
        link = SerialLink(os.ttyname(slave), baud, "N", 1, 8)
        bus = ModbusBus("bench", Transport(link, "rtu"), LineTiming(baud))
        async with bus:
            channel = bus.attach("d1", 1, DeviceTiming(timeout_s=1.0, retries=0))
            await _hammer([channel], 0.3)  # warm up
            started, finished = time.perf_counter(), list[float]()
            done = await _hammer([channel], RTU_SECONDS, finished)
            elapsed = time.perf_counter() - started
            errors = sum(channel.view().errors.values())
    finally:
        stop.set()
        responder.kill()
        responder.join()
        os.close(master)
        os.close(slave)
    model_s = wiretime.transaction_s(baud, 5, 2 + 2 * REGISTERS)
    achieved = done / elapsed
    periods = [b - a for a, b in itertools.pairwise(finished)]
    return {
        "case": f"rtu {baud} baud",
        "achieved_tps": round(achieved, 1),
        "model_limit_tps": round(1 / model_s, 1),
        "efficiency": round(achieved * model_s, 3),
        # Robust to other load on the machine: the typical transaction against the model.
        "efficiency_median": round(model_s / statistics.median(periods), 3),
        "errors": errors,
    }


def _tcp_server(port_out: Any, stop: Event) -> None:
    from pyModbusTCP.server import ModbusServer

    server = ModbusServer("127.0.0.1", 0, no_block=True)
    server.start()
    port_out.put(server._service.server_address[1])
    stop.wait()
    server.stop()


async def _tcp_row(port: int, devices: int, shared: bool) -> dict[str, Any]:
    buses = [
        ModbusBus(f"b{n}", Transport(TcpLink("127.0.0.1", port, 2.0), "tcp"))
        for n in range(1 if shared else devices)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for bus in buses:
            await stack.enter_async_context(bus)
        channels = [
            buses[0 if shared else n].attach(f"d{n}", n + 1, DeviceTiming(5.0, 0))
            for n in range(devices)
        ]
        await _hammer(channels, 0.3)
        cpu_before, started = time.process_time(), time.perf_counter()
        done = await _hammer(channels, TCP_SECONDS)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        errors = sum(sum(view.errors.values()) for bus in buses for view in bus.views())
    label = (
        "1 device"
        if devices == 1
        else f"{devices} devices" + (", one connection" if shared else "")
    )
    return {
        "case": f"tcp {label}",
        "requests_per_s": round(done / elapsed),
        "cpu_us_per_request": round(cpu / done * 1e6, 1),
        "errors": errors,
    }


async def _all() -> list[dict[str, Any]]:
    rows = [await _rtu_row(baud) for baud in BAUDS]
    ports: Any = multiprocessing.Queue()
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=_tcp_server, args=(ports, stop), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=10)
        for devices, shared in ((1, False), (50, False), (50, True)):
            rows.append(await _tcp_row(port, devices, shared))
    finally:
        stop.set()
        server.join(timeout=5)
        if server.is_alive():
            server.kill()
    return rows


def run() -> list[dict[str, Any]]:
    configure_logging("warning")  # connection notices would drown the table
    return asyncio.run(_all())


if __name__ == "__main__":
    for row in run():
        print(row)
