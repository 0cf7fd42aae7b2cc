"""A recorded trace served as a device: each request is answered as the recorded device
answered the same request, in the order recorded.

Requests are matched by their PDU (function code + data). The n-th time a request arrives it
gets the n-th recorded outcome of that request; after the last one the sequence starts over
(a polled device repeats itself). A recorded ``no_answer`` or ``link`` is silence; ``garbled``
sends the recorded bytes as they came. A request never recorded is not answered (as a device
that ignores what it does not know).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from edge_controller.drivers.modbus.trace import TraceEvent, read_trace


@dataclass(frozen=True, slots=True)
class ReplayAnswer:
    kind: str  # "reply" (a PDU), "garbled" (raw bytes as received) or "silent"
    data: bytes = b""


class ReplayDevice:
    def __init__(self, events: list[TraceEvent]) -> None:
        self._outcomes: dict[bytes, list[TraceEvent]] = defaultdict(list)
        for event in events:
            self._outcomes[event.request].append(event)
        self._next: dict[bytes, int] = defaultdict(int)
        self.requests = 0

    @classmethod
    def from_file(cls, path: Path, unit: int) -> ReplayDevice:
        """The transactions of ``unit`` in every segment of the trace at ``path``."""
        trace = read_trace(path)
        return cls([e for e in trace.events if e.unit == unit])

    def answer(self, request: bytes) -> ReplayAnswer:
        self.requests += 1
        recorded = self._outcomes.get(request)
        if not recorded:
            return ReplayAnswer("silent")
        index = self._next[request] % len(recorded)
        self._next[request] = index + 1
        event = recorded[index]
        if event.outcome == "reply" and event.reply is not None:
            return ReplayAnswer("reply", event.reply)
        if event.outcome == "garbled" and event.rx is not None:
            return ReplayAnswer("garbled", event.rx)
        return ReplayAnswer("silent")
