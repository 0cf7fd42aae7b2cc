"""Modbus servers (TCP, and RTU on a serial port) answering for the simulated devices of one bus.

pymodbus provides framing and transport; the answering is ours so that faults (silence, delays,
exception codes, garbled frames) and RTU wire time can be injected per device and per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler

from edge_controller.drivers.modbus import wiretime
from edge_controller.log import get_logger
from edge_controller.sim.devices import DeviceSim
from edge_controller.sim.line_sense import LineSense
from edge_controller.sim.replay import ReplayDevice

_BIT_FUNCTIONS = (1, 2)
_log = get_logger("sim.modbus")


def garble(frame: bytes, framing: str) -> bytes:
    """A broken answer: wrong CRC (RTU) or LRC (ASCII); on TCP a bad MBAP protocol id."""
    if framing == "rtu":
        return frame[:-1] + bytes([frame[-1] ^ 0xA5])
    if framing == "ascii":  # ...LRC(2 hex chars) CR LF: change the LRC's last digit
        lrc_digit = frame[-3:-2]
        return frame[:-3] + (b"0" if lrc_digit != b"0" else b"1") + frame[-2:]
    return frame[:2] + b"\xde\xad" + frame[4:]


class SimContext(ModbusServerContext):
    """The devices behind one server, by unit id. Unknown unit ids stay silent."""

    def __init__(
        self,
        devices: dict[int, DeviceSim],
        clock: Callable[[], float],
        replays: dict[int, ReplayDevice] | None = None,
    ) -> None:
        # The base initialiser builds pymodbus's own register store, which is not used here.
        self.old_simulator = True
        self.simdevices = []
        self.devices = devices
        self.clock = clock
        self.replays = replays or {}

    def device(self, unit_id: int) -> DeviceSim:
        device = self.devices.get(unit_id)
        if device is None:
            raise NoSuchIdException(f"no simulated device with unit id {unit_id}")
        return device

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        device = self.device(device_id)
        now_s = self.clock()
        code = device.faults.exception_code(now_s)
        if code is not None:
            return ExcCodes(code)
        result = device.read(func_code, address, count, now_s)
        if isinstance(result, int):
            return ExcCodes(result)
        return [bool(v) for v in result] if func_code in _BIT_FUNCTIONS else result

    async def async_setValues(
        self,
        device_id: int,
        func_code: int,
        address: int,
        values: Sequence[int] | Sequence[bool],
    ) -> ExcCodes | None:
        device = self.device(device_id)
        now_s = self.clock()
        code = device.faults.exception_code(now_s)
        if code is None:
            code = device.write(func_code, address, [int(v) for v in values], now_s)
        return None if code is None else ExcCodes(code)

    def device_ids(self) -> list[int]:
        return [*self.devices, *self.replays]


@dataclass(frozen=True, slots=True)
class WireTiming:
    """RTU line timing applied to every answer (None on TCP, or when disabled)."""

    baud: int
    turnaround_s: float = 0.0

    def answer_delay_s(self, request_chars: int, answer_chars: int, framing: str) -> float:
        """From the request's first character to the answer's last on a real line (the
        daemon's wire-time model). The silence after the answer is the master's to wait."""
        return wiretime.exchange_s(
            self.baud,
            request_chars,
            answer_chars,
            turnaround_s=self.turnaround_s,
            framing=framing,
        )


class _Answering:
    """Mixin for the pymodbus servers: our own request handling (faults, wire time)."""

    sim_context: SimContext
    wire: WireTiming | None
    framing: str  # rtu, ascii or tcp
    line: LineSense | None = None  # a pty line: units hear only requests at their baud

    def callback_new_connection(self) -> ServerRequestHandler:
        handler = _SimHandler(self, None, None, None)  # type: ignore[no-untyped-call]
        handler._answering = set()
        return handler

    async def answer(self, handler: ServerRequestHandler, pdu: ModbusPDU, addr: Any) -> None:
        context = self.sim_context
        replay = context.replays.get(pdu.dev_id)
        if replay is not None:
            if self.line is None or self.line.hears(pdu.dev_id):
                await self._replay(handler, pdu, addr, replay)
            return
        try:
            device = context.device(pdu.dev_id)
        except NoSuchIdException:
            return  # no device with this id on the line: nobody answers
        if self.line is not None and not self.line.hears(pdu.dev_id):
            return  # sent at another baud: noise to this device
        device.count_request(pdu.function_code)
        address, count = getattr(pdu, "address", None), getattr(pdu, "count", 1)
        if device.silent(pdu.function_code, address, count, context.clock()):
            return
        delay_s = device.faults.delay_s(context.clock())
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        response = await self._respond(context, pdu)
        frame = handler.framer.buildFrame(response)
        if self.wire is not None:
            # One sleep: the request arrived through the pty at once; on the wire its last byte
            # and the whole answer would still take this long.
            request_chars = len(handler.framer.buildFrame(pdu))
            await asyncio.sleep(self.wire.answer_delay_s(request_chars, len(frame), self.framing))
        if device.faults.corrupt(context.clock()):
            frame = garble(frame, self.framing)
        handler.send(frame, addr=addr)

    async def _replay(
        self, handler: ServerRequestHandler, pdu: ModbusPDU, addr: Any, replay: ReplayDevice
    ) -> None:
        """Answer as the recorded device did (sim/replay.py)."""
        answer = replay.answer(bytes([pdu.function_code]) + pdu.encode())
        if answer.kind == "silent":
            return
        if answer.kind == "garbled":
            handler.send(answer.data, addr=addr)
            return
        response = DecodePDU(is_server=False).decode(answer.data)
        if response is None:
            return  # not a reply pymodbus can frame: nothing goes out
        response.transaction_id = pdu.transaction_id
        response.dev_id = pdu.dev_id
        frame = handler.framer.buildFrame(response)
        if self.wire is not None:
            request_chars = len(handler.framer.buildFrame(pdu))
            await asyncio.sleep(self.wire.answer_delay_s(request_chars, len(frame), self.framing))
        handler.send(frame, addr=addr)

    @staticmethod
    async def _respond(context: SimContext, pdu: ModbusPDU) -> ModbusPDU:
        try:
            response: ModbusPDU = await pdu.datastore_update(context, pdu.dev_id)
        except Exception as exc:  # a bug in the simulator must not kill the connection
            _log.error("sim_request_failed", error=str(exc), function=pdu.function_code)
            response = ExceptionResponse(pdu.function_code, ExcCodes.DEVICE_FAILURE)
        response.transaction_id = pdu.transaction_id
        response.dev_id = pdu.dev_id
        return response


class _SimHandler(ServerRequestHandler):
    _answering: set[asyncio.Task[None]]

    def callback_data(self, data: bytes, addr: tuple[str, int] | None = None) -> int:
        """Every whole frame in ``data``, each answered with its own request. pymodbus decodes
        one frame a call and answers it later from ``last_pdu``: a client that sent a second
        request before the first answer (several in flight on one TCP connection, as Modbus
        TCP allows) had it left in the buffer until more bytes came, then answered one behind."""
        used = 0
        while used < len(data):
            cut = ServerRequestHandler.callback_data(self, data[used:], addr)
            if cut <= 0:
                break
            used += cut
            if self.last_pdu is not None:
                # Take the request now: the next frame replaces last_pdu.
                answer = self.server.answer(self, self.last_pdu, self.last_addr)
                task = self.loop.create_task(answer)
                self._answering.add(task)  # held until done: the loop keeps only weak references
                task.add_done_callback(self._answering.discard)
                self.last_pdu = None
        return used

    async def handle_request(self) -> None:
        """Nothing left to do here: each request was taken and answered as it came
        (``callback_data``)."""


class SimTcpServer(_Answering, ModbusTcpServer):
    def __init__(self, context: SimContext, host: str, port: int) -> None:
        super().__init__(context, address=(host, port), ignore_missing_devices=True)
        self.sim_context = context
        self.wire = None
        self.framing = "tcp"


class SimRtuServer(_Answering, ModbusSerialServer):
    def __init__(
        self,
        context: SimContext,
        *,
        port: str,
        baud: int,
        parity: str,
        stop_bits: int,
        data_bits: int,
        wire: WireTiming | None,
        ascii_framing: bool = False,
        line: LineSense | None = None,
    ) -> None:
        super().__init__(
            context,
            framer=FramerType.ASCII if ascii_framing else FramerType.RTU,
            port=port,
            baudrate=baud,
            parity=parity,
            stopbits=stop_bits,
            bytesize=data_bits,
            ignore_missing_devices=True,
            reconnect_delay=0.5,
        )
        self.sim_context = context
        self.wire = wire
        self.framing = "ascii" if ascii_framing else "rtu"
        self.line = line


class SimRtuOverTcpServer(_Answering, ModbusTcpServer):
    """An RS-485 line behind a transparent gateway: RTU frames over a TCP socket."""

    def __init__(
        self,
        context: SimContext,
        host: str,
        port: int,
        wire: WireTiming | None,
        ascii_framing: bool = False,
    ) -> None:
        framer = FramerType.ASCII if ascii_framing else FramerType.RTU
        super().__init__(context, framer=framer, address=(host, port), ignore_missing_devices=True)
        self.sim_context = context
        self.wire = wire
        self.framing = "ascii" if ascii_framing else "rtu"
