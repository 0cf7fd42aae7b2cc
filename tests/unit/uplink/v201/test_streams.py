"""When a periodic event stream sends what it read (``StreamBuffer``): one data file per
scenario in ``streams/``: the stream's params, the reads (a value, or None for a tick without
one) and the NotifyPeriodicEventStream contents expected, with when they go."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_controller.uplink.v201.streams import StreamBuffer, StreamParams, notify_payload

SCENARIOS = sorted((Path(__file__).parent / "streams").glob("*.json"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path) -> None:
    scenario = json.loads(path.read_text())
    buffer = StreamBuffer(StreamParams(**scenario["params"]))
    sent: list[dict[str, Any]] = []
    for at_s, value in scenario["steps"]:
        if value is not None:
            buffer.add(at_s, value)
        batch = buffer.take(at_s)
        if batch is not None:
            data = [list(d) for d in batch.data]
            sent.append({"at_s": at_s, "basetime_s": batch.basetime_s, "data": data,
                         "pending": batch.pending})  # fmt: skip
    assert sent == scenario["sends"]


def test_the_message_names_its_stream_and_times_values_from_its_first() -> None:
    buffer = StreamBuffer(StreamParams(0, 2))
    buffer.add(1_795_737_600.0, "7200.0")
    buffer.add(1_795_737_600.5, "7100.0")
    batch = buffer.take(1_795_737_600.5)
    assert batch is not None
    assert notify_payload(3, batch) == {
        "id": 3,
        "pending": 0,
        "basetime": "2026-11-27T00:00:00.000Z",
        "data": [{"t": 0.0, "v": "7200.0"}, {"t": 0.5, "v": "7100.0"}],
    }
