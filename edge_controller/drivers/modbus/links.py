"""Byte links under a Modbus transport: a serial port (pyserial) or a TCP stream.

A link delivers whole frames: ``receive(size_of)`` buffers bytes until ``size_of(buffer)`` says
a complete frame is there. Links raise only ``OSError``/``ConnectionError`` (a vanished USB
adapter's ``termios.error`` included); the bus translates them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol

import serial

SizeOf = Callable[[bytes], int | None]


class Link(Protocol):
    @property
    def is_open(self) -> bool: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, frame: bytes) -> None: ...

    async def receive(self, size_of: SizeOf) -> bytes: ...

    def discard(self) -> None:
        """Drop buffered input (stale bytes after a timeout or garbage)."""
        ...


class _Buffered(ABC):
    def __init__(self) -> None:
        self._rx = bytearray()

    @abstractmethod
    async def _fill(self) -> None:
        """Wait for more input and append it to ``self._rx``."""

    async def receive(self, size_of: SizeOf) -> bytes:
        while True:
            size = size_of(bytes(self._rx)) if self._rx else None
            if size is not None and len(self._rx) >= size:
                frame = bytes(self._rx[:size])
                del self._rx[:size]
                return frame
            await self._fill()

    def discard(self) -> None:
        self._rx.clear()


class SerialLink(_Buffered):
    """An RS-485 port; reads are event-driven (``add_reader``), no polling sleeps."""

    def __init__(self, device: str, baud: int, parity: str, stop_bits: int, data_bits: int) -> None:
        super().__init__()
        self._settings = {
            "port": device,
            "baudrate": baud,
            "parity": parity,
            "stopbits": stop_bits,
            "bytesize": data_bits,
        }
        self._serial: serial.Serial | None = None
        self._readable = asyncio.Event()
        self._error: BaseException | None = None

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    async def open(self) -> None:
        try:
            port = serial.Serial(timeout=0, write_timeout=1, **self._settings)
        except (serial.SerialException, ValueError) as exc:
            raise ConnectionError(f"cannot open {self._settings['port']}: {exc}") from exc
        self._serial, self._error = port, None
        asyncio.get_running_loop().add_reader(port.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        if self._serial is None:
            return
        try:
            data = os.read(self._serial.fileno(), 4096)
        except OSError as exc:  # the adapter is gone (EIO): stop listening, fail the waiter
            data, self._error = b"", exc
        if not data:
            self._error = self._error or ConnectionError("hung up")
            asyncio.get_running_loop().remove_reader(self._serial.fileno())
        self._rx += data
        self._readable.set()

    async def _fill(self) -> None:
        if self._error is None:
            self._readable.clear()
            await self._readable.wait()
        if self._error is not None:
            raise _lost(self._error)

    async def send(self, frame: bytes) -> None:
        if self._serial is None:
            raise ConnectionError("serial port is closed")
        view = memoryview(frame)
        try:
            while view:
                written = os.write(self._serial.fileno(), view)
                view = view[written:]
        except OSError as exc:
            raise _lost(exc) from exc

    def discard(self) -> None:
        super().discard()
        if self._serial is None:
            return
        try:
            self._serial.reset_input_buffer()
        except (OSError, termios.error, serial.SerialException) as exc:
            # An unplugged adapter fails the flush with termios.error (EIO), which is no OSError.
            raise _lost(exc) from exc

    async def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            asyncio.get_running_loop().remove_reader(port.fileno())
            with contextlib.suppress(OSError, serial.SerialException):
                port.close()


def _lost(exc: BaseException) -> ConnectionError:
    """A lost serial port as the one exception type the bus knows."""
    if isinstance(exc, termios.error) and len(exc.args) == 2:
        errno, text = exc.args
        return ConnectionError(f"serial port lost: {text} (errno {errno})")
    return ConnectionError(f"serial port lost: {exc}")


class TcpLink(_Buffered):
    """A TCP connection (Modbus TCP, or RTU/ASCII frames to a serial gateway)."""

    def __init__(self, host: str, port: int, connect_timeout_s: float) -> None:
        super().__init__()
        self._address = (host, port)
        self._connect_timeout_s = connect_timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def open(self) -> None:
        host, port = self._address
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                self._reader, self._writer = await asyncio.open_connection(host, port)
        except TimeoutError as exc:
            raise ConnectionError(f"connect to {host}:{port} timed out") from exc
        self._rx.clear()

    async def _fill(self) -> None:
        if self._reader is None:
            raise ConnectionError("not connected")
        data = await self._reader.read(4096)
        if not data:
            raise ConnectionError("connection closed by peer")
        self._rx += data

    async def send(self, frame: bytes) -> None:
        if self._writer is None:
            raise ConnectionError("not connected")
        self._writer.write(frame)
        await self._writer.drain()

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
