"""Byte links under a Modbus transport: a serial port (pyserial) or a TCP stream.

A link delivers whole frames: ``receive(size_of)`` buffers bytes until ``size_of`` says, from
the buffer's head (``frame_size``), that a complete frame is there. Links raise only
``OSError``/``ConnectionError`` (a vanished USB adapter's ``termios.error`` included); the bus
translates them.
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

# What ``size_of`` is shown of the buffered input: a frame's size is told by its first bytes
# (3 in RTU, 6 in MBAP), an ASCII line's by its end, at most the longest frame (':', 255 bytes
# as hex, CR LF). The whole buffer, copied at every frame, was quadratic in a flooding peer's
# input (up to MAX_UNREAD_BYTES a frame).
SHORT_HEAD_BYTES = 8
LONGEST_FRAME_BYTES = 1 + 2 * 255 + 2


def frame_size(size_of: SizeOf, rx: bytearray) -> int | None:
    """The size of the frame starting ``rx`` (None: not known yet), from its head only."""
    size = size_of(bytes(rx[:SHORT_HEAD_BYTES]))
    if size is None and len(rx) > SHORT_HEAD_BYTES:
        size = size_of(bytes(rx[:LONGEST_FRAME_BYTES]))
    return size


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

    def time_out_in(self, timeout_s: float | None) -> bool:
        """Make ``send`` and ``receive`` raise TimeoutError from ``timeout_s`` on (None: wait
        without end again); False if this link cannot, and its caller must time them."""
        ...


class _Buffered(ABC):
    def __init__(self) -> None:
        self._rx = bytearray()

    @abstractmethod
    async def _fill(self) -> None:
        """Wait for more input and append it to ``self._rx``."""

    async def receive(self, size_of: SizeOf) -> bytes:
        while True:
            size = frame_size(size_of, self._rx) if self._rx else None
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

    def time_out_in(self, timeout_s: float | None) -> bool:
        return False

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


# Input held unread before the connection stops reading (a peer sending more than it was asked,
# a Modbus TCP frame is at most 260 bytes): the kernel's buffers then hold the rest, as a stream
# reader's limit did, instead of the daemon's memory.
MAX_UNREAD_BYTES = 64 * 1024


class _TcpConnection(asyncio.Protocol):
    """One connection's bytes as they arrive, waking the link's one waiting ``send`` or
    ``receive``: a protocol, where a stream reader and writer cost a future and several calls
    per read (at 1,000 connectors some 2,000 transactions a second)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.rx = bytearray()
        self.error: BaseException | None = None  # why the connection is gone
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False  # the send buffer is full: a send waits until it drains
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reading = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.rx += data
        if len(self.rx) > MAX_UNREAD_BYTES and self.reading and self.transport is not None:
            self.reading = False
            self.transport.pause_reading()
        self.wake()

    def taken(self) -> None:
        """Input was taken or dropped: read again once there is room."""
        if not self.reading and len(self.rx) <= MAX_UNREAD_BYTES and self.transport is not None:
            self.reading = True
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        self.error = self.error or ConnectionError("connection closed by peer")
        self.wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = self.error or exc or ConnectionError("connection closed by peer")
        self.wake()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.wake()

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class TcpLink:
    """A TCP connection (Modbus TCP, or RTU/ASCII frames to a serial gateway). It times its
    transactions itself (``time_out_in``): one timer a transaction instead of a timeout context
    around it."""

    def __init__(self, host: str, port: int, connect_timeout_s: float) -> None:
        self._address = (host, port)
        self._connect_timeout_s = connect_timeout_s
        self._tcp: _TcpConnection | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    @property
    def is_open(self) -> bool:
        return self._tcp is not None

    async def open(self) -> None:
        host, port = self._address
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                _transport, self._tcp = await loop.create_connection(_TcpConnection, host, port)
        except TimeoutError as exc:
            raise ConnectionError(f"connect to {host}:{port} timed out") from exc

    def time_out_in(self, timeout_s: float | None) -> bool:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._expired = False
        if timeout_s is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + timeout_s, self._expire)
        return True

    def _expire(self) -> None:
        self._timer, self._expired = None, True
        waiter = None if self._tcp is None else self._tcp.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())

    async def _wait(self, connection: _TcpConnection) -> None:
        if self._expired:
            raise TimeoutError()
        connection.waiter = asyncio.get_running_loop().create_future()
        try:
            await connection.waiter
        finally:
            connection.waiter = None

    async def receive(self, size_of: SizeOf) -> bytes:
        connection = self._tcp
        if connection is None:
            raise ConnectionError("not connected")
        rx = connection.rx
        while True:
            size = frame_size(size_of, rx) if rx else None
            if size is not None and len(rx) >= size:
                frame = bytes(rx[:size])
                del rx[:size]
                connection.taken()
                return frame
            if connection.error is not None:
                raise connection.error
            await self._wait(connection)

    async def send(self, frame: bytes) -> None:
        connection = self._tcp
        if connection is None or connection.transport is None:
            raise ConnectionError("not connected")
        if connection.error is not None:
            raise connection.error
        connection.transport.write(frame)
        while connection.paused and connection.error is None:
            await self._wait(connection)
        if connection.error is not None:
            raise connection.error

    def discard(self) -> None:
        if self._tcp is not None:
            self._tcp.rx.clear()
            self._tcp.taken()

    async def close(self) -> None:
        connection, self._tcp = self._tcp, None
        if connection is None or connection.transport is None:
            return
        connection.transport.close()
        with contextlib.suppress(TimeoutError):  # as long as a stream writer waits to close
            async with asyncio.timeout(1.0):
                await connection.closed
