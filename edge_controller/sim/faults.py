"""Faults injected into one simulated device. Pure: the time is an argument.

Kinds (each may carry ``duration_s``; without it the fault holds until cleared):

- ``no_answer``: the device stays silent (the client times out); with a ``point``, only to the
  reads that cover that point's registers (a register the firmware never answers).
- ``slow``: every answer comes ``delay_s`` late.
- ``exception``: every request is answered with Modbus exception ``code`` (e.g. 4, 6).
- ``corrupt``: answers are garbled (bad CRC on RTU, a broken header on TCP).
- ``reboot``: silent for ``duration_s`` (default 3 s), then every volatile register is back at
  its power-up value (setpoints, watchdog settings); energy counters survive.
- ``stuck``: register values freeze where they are (one ``point`` or the whole device).
- ``bad_value``: one ``point`` is served as a value its driver must refuse: ``value`` (outside
  the profile's range, the type's limits kept) or, without it, NaN for a float point and the
  type's largest raw value for an integer one.
- ``charger_fault`` (chargers only): the charger is in its fault state, pilot state F: it offers
  no current and its status register shows a fault code of its profile, ``error_code`` if
  given (one of the profile's ``status.faults``), else the code the model shows for state F.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FaultKind = Literal[
    "no_answer", "slow", "exception", "corrupt", "reboot", "stuck", "charger_fault", "bad_value"
]
FAULT_KINDS: tuple[str, ...] = (
    "no_answer",
    "slow",
    "exception",
    "corrupt",
    "reboot",
    "stuck",
    "charger_fault",
    "bad_value",
)
REBOOT_DEFAULT_S = 3.0
EXCEPTION_CODES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 10, 11})


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    since_s: float
    duration_s: float | None = None
    delay_s: float = 0.0
    code: int = 4
    point: str | None = None
    error_code: int | None = None  # charger_fault: the status code shown
    value: float | None = None  # bad_value: the value served (None: NaN or the type's largest)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError("duration_s must be positive")
        if not 0 <= self.delay_s <= 60:
            raise ValueError("delay_s must be in [0, 60]")
        if self.code not in EXCEPTION_CODES:
            raise ValueError(f"code must be a Modbus exception code {sorted(EXCEPTION_CODES)}")
        if self.kind == "bad_value" and self.point is None:
            raise ValueError("a bad_value fault needs the point it spoils")

    def active(self, now_s: float) -> bool:
        return self.duration_s is None or now_s < self.since_s + self.duration_s

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "since_s": self.since_s,
            "duration_s": self.duration_s,
            "delay_s": self.delay_s,
            "code": self.code,
            "point": self.point,
            "error_code": self.error_code,
            "value": self.value,
        }


def make_fault(kind: str, now_s: float, **options: float | int | str | None) -> Fault:
    """Validate a fault request (e.g. from the control interface)."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    duration = options.get("duration_s")
    if kind == "reboot" and duration is None:
        duration = REBOOT_DEFAULT_S
    point, error_code, value = options.get("point"), options.get("error_code"), options.get("value")
    return Fault(
        kind=kind,  # type: ignore[arg-type]
        since_s=now_s,
        duration_s=None if duration is None else float(duration),
        delay_s=float(options.get("delay_s") or 0.0),
        code=int(options.get("code") or 4),
        point=None if point is None else str(point),
        error_code=None if error_code is None else int(error_code),
        value=None if value is None else float(value),
    )


class FaultSet:
    """The faults currently injected into one device, at most one per kind."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}

    def inject(self, fault: Fault) -> None:
        self._faults[fault.kind] = fault

    def clear(self, kind: str | None = None) -> None:
        if kind is None:
            self._faults.clear()
        else:
            self._faults.pop(kind, None)

    def get(self, kind: str, now_s: float) -> Fault | None:
        fault = self._faults.get(kind)
        if fault is not None and not fault.active(now_s):
            del self._faults[kind]
            return None
        return fault

    def active(self, now_s: float) -> list[Fault]:
        return [f for kind in list(self._faults) if (f := self.get(kind, now_s)) is not None]

    def silent(self, now_s: float) -> bool:
        """Silent to every request (a ``no_answer`` of one point: see ``DeviceSim.silent``)."""
        if self.get("reboot", now_s) is not None:
            return True
        fault = self.get("no_answer", now_s)
        return fault is not None and fault.point is None

    def delay_s(self, now_s: float) -> float:
        fault = self.get("slow", now_s)
        return fault.delay_s if fault is not None else 0.0

    def exception_code(self, now_s: float) -> int | None:
        fault = self.get("exception", now_s)
        return fault.code if fault is not None else None

    def corrupt(self, now_s: float) -> bool:
        return self.get("corrupt", now_s) is not None
