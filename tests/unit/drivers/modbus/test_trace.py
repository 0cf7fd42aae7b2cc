"""Modbus traffic traces: what a recorder writes reads back the same; a broken file names its
line; a full trace stops recording instead of filling the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.drivers.modbus.trace import (
    Frames,
    TraceError,
    TraceHeader,
    TraceRecorder,
    read_trace,
)


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def record(recorder: TraceRecorder, clock: Clock, outcome: str, rx: bytes | None) -> None:
    frames = Frames(clock(), tx=b"\x01\x04\x00\x04\x00\x01\x70\x0b", rx=rx)
    frames.reply = rx[1:-2] if rx else None
    clock.now_s += 0.25
    recorder.record(1, b"\x04\x00\x04\x00\x01", outcome, frames)


def test_a_recorded_segment_reads_back(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "bus.trace"
    recorder = TraceRecorder(path, TraceHeader("rs485", "rtu", 19200, "E"), clock)
    record(recorder, clock, "reply", b"\x01\x04\x02\x01\x08\xb9\x5e")
    record(recorder, clock, "no_answer", None)
    recorder.close()
    # A second run appends its own segment.
    again = TraceRecorder(path, TraceHeader("rs485", "rtu", 9600, "N"), clock)
    record(again, clock, "garbled", b"\x01\x04\x02")
    again.close()
    trace = read_trace(path)
    assert [(h.baud, h.parity) for h in trace.headers] == [(19200, "E"), (9600, "N")]
    first, second, third = trace.events
    assert (first.t_s, first.took_s, first.outcome) == (0.0, 0.25, "reply")
    assert first.reply == b"\x04\x02\x01\x08" and first.rx == b"\x01\x04\x02\x01\x08\xb9\x5e"
    assert (second.t_s, second.outcome, second.reply, second.rx) == (0.25, "no_answer", None, None)
    assert (third.t_s, third.outcome, third.reply) == (0.0, "garbled", None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty trace"),
        ('{"t_s": 0, "unit": 1}\n', ":1: a trace starts with its header line"),
        ('{"trace": "edge-controller/modbus", "version": 9, "framing": "rtu"}\n', "version 9"),
        ('{"trace": "edge-controller/modbus", "version": 1, "framing": "rtu"}\nnope\n', ":2: not"),
        (
            '{"trace": "edge-controller/modbus", "version": 1, "framing": "rtu"}\n'
            '{"t_s": 0, "unit": 1, "request": "zz", "outcome": "reply"}\n',
            ":2: request: not hex",
        ),
        (
            '{"trace": "edge-controller/modbus", "version": 1, "framing": "rtu"}\n'
            '{"t_s": 0, "unit": 300, "request": "04", "outcome": "reply"}\n',
            "unit must be 0..255",
        ),
    ],
)
def test_a_broken_trace_names_the_line(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "bad.trace"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TraceError, match=reason):
        read_trace(path)


def test_a_full_trace_stops_recording(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "small.trace"
    recorder = TraceRecorder(path, TraceHeader("lan", "tcp"), clock, max_bytes=600)
    for _ in range(10):
        record(recorder, clock, "no_answer", None)
    recorder.close()
    assert recorder.full
    assert path.stat().st_size <= 600
    assert 1 <= len(read_trace(path).events) < 10
