"""Traces of Modbus traffic: every request and its reply as it crossed the wire.

A trace is a JSON Lines file (UTF-8). A segment starts with a header line; each later line is
one transaction. A bus appends a new segment each time it starts recording, so a restart never
overwrites what an earlier run saw::

    {"trace": "edge-controller/modbus", "version": 1, "bus": "rs485", "framing": "rtu",
     "baud": 19200, "parity": "E", "started_at": "2025-06-01T08:00:00Z"}
    {"t_s": 0.0123, "unit": 1, "request": "0400040002", "reply": "040401080005",
     "outcome": "reply", "tx": "010400040002300a", "rx": "01040401080005bbb9", "took_s": 0.0041}

- ``t_s``: seconds since the segment's header (monotonic clock); ``took_s``: request sent to
  outcome known.
- ``request``/``reply``: the PDUs (function code + data) in hex; an exception reply is a reply
  (its function code has bit 7 set). ``reply`` is null unless ``outcome`` is ``reply``.
- ``outcome``: ``reply``, ``no_answer`` (silence until the timeout), ``garbled`` (bytes that are
  no valid frame: bad CRC/LRC, wrong unit), ``link`` (the port or connection failed).
- ``tx``/``rx``: the whole frames as sent and received (RTU with CRC, ASCII as text bytes, TCP
  with the MBAP header); ``rx`` is null when nothing complete arrived.

The simulator serves a trace as a device (``simulation.replay``): see ``sim/replay.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from edge_controller.log import get_logger

TRACE_KIND = "edge-controller/modbus"
TRACE_VERSION = 1
OUTCOMES = ("reply", "no_answer", "garbled", "link")
MAX_TRACE_BYTES = 64 * 1024 * 1024  # a recording stops here (logged once)
MAX_LINE_BYTES = 4096  # the largest Modbus frame is 513 hex bytes; anything longer is no trace
_log = get_logger("modbus.trace")


class TraceError(ValueError):
    """A trace file that cannot be read: the line and the reason."""


@dataclass(frozen=True, slots=True)
class TraceHeader:
    bus: str
    framing: str
    baud: int | None = None
    parity: str | None = None
    started_at: str = ""


@dataclass(frozen=True, slots=True)
class TraceEvent:
    t_s: float
    unit: int
    request: bytes
    reply: bytes | None
    outcome: str
    tx: bytes
    rx: bytes | None
    took_s: float

    def as_json(self) -> dict[str, Any]:
        return {
            "t_s": round(self.t_s, 6),
            "unit": self.unit,
            "request": self.request.hex(),
            "reply": None if self.reply is None else self.reply.hex(),
            "outcome": self.outcome,
            "tx": self.tx.hex(),
            "rx": None if self.rx is None else self.rx.hex(),
            "took_s": round(self.took_s, 6),
        }


@dataclass(frozen=True, slots=True)
class Trace:
    headers: tuple[TraceHeader, ...]
    events: tuple[TraceEvent, ...]


class TraceRecorder:
    """Appends one segment to a trace file; each transaction is flushed as it completes, so a
    killed process leaves a usable trace."""

    def __init__(
        self,
        path: Path,
        header: TraceHeader,
        clock: Callable[[], float] = time.monotonic,
        max_bytes: int = MAX_TRACE_BYTES,
    ) -> None:
        self.path = path
        self._header = header
        self._clock = clock
        self._max_bytes = max_bytes
        self._file: IO[str] | None = None
        self._started_s = 0.0
        self._written = 0
        self.full = False

    def now_s(self) -> float:
        return self._clock()

    def _open(self, started_s: float) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
            self._written = self.path.stat().st_size
            self._started_s = started_s
            started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            header = {"trace": TRACE_KIND, "version": TRACE_VERSION, **asdict(self._header)}
            self._write(header | {"started_at": self._header.started_at or started})

    def _write(self, line: dict[str, Any]) -> None:
        assert self._file is not None
        text = json.dumps(line, separators=(", ", ": ")) + "\n"
        if self._written + len(text) > self._max_bytes:
            if not self.full:
                self.full = True
                _log.warning("trace full, recording stopped", path=str(self.path))
            return
        self._file.write(text)
        self._file.flush()
        self._written += len(text)

    def record(self, unit: int, request: bytes, outcome: str, frames: Frames) -> None:
        """One transaction, started at ``frames.started_s`` (this recorder's clock)."""
        self._open(frames.started_s)
        now = self._clock()
        event = TraceEvent(
            t_s=frames.started_s - self._started_s,
            unit=unit,
            request=request,
            reply=frames.reply if outcome == "reply" else None,
            outcome=outcome,
            tx=frames.tx,
            rx=frames.rx,
            took_s=now - frames.started_s,
        )
        self._write(event.as_json())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(slots=True)
class Frames:
    """What one transaction put on the wire and got back (filled in by the transport)."""

    started_s: float
    tx: bytes = b""
    rx: bytes | None = None
    reply: bytes | None = None


def _hex(value: Any, where: str, nullable: bool = False) -> bytes | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise TraceError(f"{where}: expected hex text")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise TraceError(f"{where}: not hex") from exc


def _event(data: dict[str, Any], where: str) -> TraceEvent:
    outcome = data.get("outcome")
    if outcome not in OUTCOMES:
        raise TraceError(f"{where}: outcome must be one of {', '.join(OUTCOMES)}")
    unit, t_s, took_s = data.get("unit"), data.get("t_s"), data.get("took_s", 0.0)
    if not isinstance(unit, int) or not 0 <= unit <= 255:
        raise TraceError(f"{where}: unit must be 0..255")
    if not isinstance(t_s, int | float) or not isinstance(took_s, int | float):
        raise TraceError(f"{where}: t_s and took_s must be numbers")
    request = _hex(data.get("request"), f"{where}: request")
    tx = _hex(data.get("tx", ""), f"{where}: tx")
    assert request is not None and tx is not None
    return TraceEvent(
        t_s=float(t_s),
        unit=unit,
        request=request,
        reply=_hex(data.get("reply"), f"{where}: reply", nullable=True),
        outcome=str(outcome),
        tx=tx,
        rx=_hex(data.get("rx"), f"{where}: rx", nullable=True),
        took_s=float(took_s),
    )


def _header(data: dict[str, Any], where: str) -> TraceHeader:
    if data.get("version") != TRACE_VERSION:
        raise TraceError(f"{where}: unsupported trace version {data.get('version')!r}")
    framing = data.get("framing")
    if framing not in ("rtu", "ascii", "tcp"):
        raise TraceError(f"{where}: framing must be rtu, ascii or tcp")
    baud = data.get("baud")
    return TraceHeader(
        bus=str(data.get("bus", "")),
        framing=str(framing),
        baud=int(baud) if isinstance(baud, int) else None,
        parity=data.get("parity") if isinstance(data.get("parity"), str) else None,
        started_at=str(data.get("started_at", "")),
    )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if len(line) > MAX_LINE_BYTES:
                raise TraceError(f"{path}:{number}: line longer than {MAX_LINE_BYTES} bytes")
            if line.strip():
                yield number, line


def read_trace(path: Path, max_bytes: int = MAX_TRACE_BYTES) -> Trace:
    """Every segment of a trace file; raises :class:`TraceError` naming the line."""
    try:
        if path.stat().st_size > max_bytes:
            raise TraceError(f"{path}: larger than {max_bytes} bytes")
        headers: list[TraceHeader] = []
        events: list[TraceEvent] = []
        for number, line in _lines(path):
            where = f"{path}:{number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TraceError(f"{where}: not JSON ({exc.msg})") from exc
            if not isinstance(data, dict):
                raise TraceError(f"{where}: expected an object")
            if data.get("trace") == TRACE_KIND:
                headers.append(_header(data, where))
            elif not headers:
                raise TraceError(f"{where}: a trace starts with its header line")
            else:
                events.append(_event(data, where))
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"cannot read trace {path}: {exc}") from exc
    if not headers:
        raise TraceError(f"{path}: empty trace")
    return Trace(tuple(headers), tuple(events))
