"""The one place where transport and protocol failures become DeviceUnavailable/DeviceFault."""

from __future__ import annotations

import serial

from edge_controller.drivers.modbus.pdu import (
    EXCEPTION_NAMES,
    FrameError,
    ModbusExceptionResponse,
    describe,
)
from edge_controller.ports import DeviceError, DeviceFault, DeviceUnavailable

# Exception codes worth another attempt: the device or gateway is only busy or slow.
_RETRYABLE_CODES = frozenset({0x05, 0x06, 0x0B})
# Failures meaning "nobody answered" (the device counts as unavailable after its retries).
SILENT_KINDS = frozenset({"timeout", "connection", "crc", "framing", "exception_0B"})


def error_kind(exc: BaseException) -> str:
    """Statistics key: timeout, connection, crc, framing, exception_01 … exception_0B."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, FrameError):
        return exc.kind
    if isinstance(exc, ModbusExceptionResponse):
        return f"exception_{exc.code:02X}"
    return "connection"


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ModbusExceptionResponse):
        return exc.code in _RETRYABLE_CODES
    return True


def is_transport_error(exc: BaseException) -> bool:
    """Errors after which the link must be closed and reopened."""
    return isinstance(exc, OSError | ConnectionError | serial.SerialException) and not isinstance(
        exc, TimeoutError
    )


TRANSLATED = (TimeoutError, FrameError, ModbusExceptionResponse, OSError, serial.SerialException)


def translate(exc: BaseException, device_id: str, request: bytes | None = None) -> DeviceError:
    """``request``: the PDU that failed; an exception reply names its registers (a read of
    status and meter together spans both, and the reply alone does not say which)."""
    kind = error_kind(exc)
    if isinstance(exc, ModbusExceptionResponse) and kind not in SILENT_KINDS:
        name = EXCEPTION_NAMES.get(exc.code, "unknown exception")
        to = f" to {describe(request)}" if request is not None else ""
        return DeviceFault(f"{device_id}: Modbus exception {exc.code:02X} ({name}){to}")
    if kind == "timeout":
        return DeviceUnavailable(f"{device_id}: no answer (timeout)")
    if kind in ("crc", "framing"):
        return DeviceUnavailable(f"{device_id}: unusable reply ({kind}: {exc})")
    return DeviceUnavailable(f"{device_id}: {exc}")
