"""Record and replay: the simulator serves each shipped trace as a device, and the same
requests through the daemon's drivers record a trace whose frames are bit-identical."""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from edge_controller.config.settings import Settings
from edge_controller.drivers import registry
from edge_controller.drivers.modbus.bus import DeviceTiming
from edge_controller.drivers.modbus.trace import Trace, TraceEvent, read_trace
from edge_controller.ports import DeviceError
from edge_controller.sim.site import running_site
from hil.traces import TRACES_DIR

pytestmark = pytest.mark.integration
SHIPPED = sorted(TRACES_DIR.glob("*.trace"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def replay_bus(trace: Trace, tmp_path: Path) -> dict[str, Any]:
    """A bus like the recorded one, on loopback or a pty."""
    header = trace.headers[0]
    if header.framing == "tcp":
        return {"type": "tcp", "host": "127.0.0.1", "port": free_port(), "timeout_s": 0.5}
    return {"type": "rtu", "device": str(tmp_path / "ttyREPLAY"), "baud": header.baud,
            "parity": "N", "framing": header.framing, "timeout_s": 0.5}  # fmt: skip


def frames(event: TraceEvent) -> tuple[Any, ...]:
    return (event.unit, event.request, event.outcome, event.reply, event.tx, event.rx)


def test_every_shipped_profile_has_a_trace() -> None:
    from edge_controller.drivers.registry import profile_kinds

    assert {p.stem for p in SHIPPED} == set(profile_kinds())


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
async def test_a_shipped_trace_replays_bit_identically(path: Path, tmp_path: Path) -> None:
    recorded = read_trace(path)
    units = sorted({e.unit for e in recorded.events})
    bus = replay_bus(recorded, tmp_path)
    settings = Settings.model_validate(
        {
            "site": {"id": "replay", "grid_limit_a": 63},
            "storage": {"state_dir": str(tmp_path)},
            "buses": {"line": bus},
            "simulation": {
                "control_port": 0,
                "replay": [{"bus": "line", "unit_id": u, "trace": str(path)} for u in units],
            },
        }
    )
    again = tmp_path / "again.trace"
    async with running_site(settings):
        client = settings.buses["line"].model_copy(update={"record": again, "retries": 0})
        async with registry.build_bus("line", client) as opened:
            channels = {u: opened.attach(f"unit {u}", u, DeviceTiming(0.5, 0)) for u in units}
            for event in recorded.events:
                with contextlib.suppress(DeviceError):  # an exception reply replays too
                    await channels[event.unit].request(event.request)
    replayed = read_trace(again)
    assert [frames(e) for e in replayed.events] == [frames(e) for e in recorded.events]
    assert len(replayed.events) >= 2


async def test_a_quirk_in_a_trace_reaches_the_driver(tmp_path: Path) -> None:
    """A device that once answered "busy" (exception 06) to a read: the replayed device does
    the same at the same point of the sequence, and the next read gets its data."""
    source = read_trace(TRACES_DIR / "eastron_sdm630.trace")
    first = source.events[0]
    header = {"trace": "edge-controller/modbus", "version": 1, "bus": "lan", "framing": "tcp"}
    reply = first.reply.hex() if first.reply else ""
    busy = {"t_s": 0, "unit": 2, "request": first.request.hex(), "reply": "8306"}
    data = {"t_s": 1, "unit": 2, "request": first.request.hex(), "reply": reply}
    lines = [
        json.dumps(line)
        for line in (header, busy | {"outcome": "reply"}, data | {"outcome": "reply"})
    ]
    trace = tmp_path / "busy.trace"
    trace.write_text("\n".join(lines) + "\n", encoding="utf-8")
    port = free_port()
    settings = Settings.model_validate(
        {
            "site": {"id": "replay", "grid_limit_a": 63},
            "storage": {"state_dir": str(tmp_path)},
            "buses": {"lan": {"type": "tcp", "host": "127.0.0.1", "port": port}},
            "simulation": {
                "control_port": 0,
                "replay": [{"bus": "lan", "unit_id": 2, "trace": str(trace)}],
            },
        }
    )
    async with running_site(settings):
        client = settings.buses["lan"].model_copy(update={"retries": 1})
        async with registry.build_bus("lan", client) as opened:
            channel = opened.attach("meter", 2, DeviceTiming(0.5, 1))
            # Exception 06 is retried by the bus: the second attempt gets the data.
            assert await channel.request(first.request) == first.reply
            assert channel.stats.view(None).errors.get("exception_06") == 1
