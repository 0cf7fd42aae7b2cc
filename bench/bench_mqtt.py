"""MQTT telemetry: cost of the sync publish call, drain rate to a real broker, memory bound.

Speed is machine-dependent; compare the ratios measured in the same run.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from edge_controller.config.settings import MqttSettings
from edge_controller.domain.commands import Command
from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView, SiteView
from edge_controller.telemetry import CommandResult, MqttService, SessionNotice
from edge_controller.telemetry.payloads import encode_json, site_payload
from tests.integration.mqtt.broker import PREFIX, Mosquitto

CONNECTORS = [f"wb{i}:1" for i in range(1, 5)]


class _Sink:
    async def decide(self, command: Command) -> CommandResult:
        return CommandResult.success()


def _view(at_s: float) -> SiteView:
    connectors = tuple(
        ConnectorView(
            c,
            Availability.CHARGING,
            16.0,
            "fuse",
            (10.0, 10.0, 10.0),
            6900.0,
            1000.0 + at_s,
            at_s=at_s,
        )
        for c in CONNECTORS
    )
    devices = tuple(DeviceView(c.split(":")[0], True, 10, {"timeout": 1}, 5.0) for c in CONNECTORS)
    return SiteView(
        "bench", (30.0, 30.0, 30.0), 63.0, (33.0, 33.0, 33.0), 0.2, connectors, devices, at_s=at_s
    )


def _service(port: int, password_file: Path | None, **extra: Any) -> MqttService:
    settings = MqttSettings(
        enabled=True,
        port=port,
        username="edge",
        password_file=password_file,
        client_id=f"bench-{time.monotonic_ns()}",
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
        **extra,
    )
    return MqttService(
        settings, prefix=PREFIX, site_id="bench", connector_ids=CONNECTORS, sink=_Sink()
    )


def _publish_cost(n: int) -> list[dict[str, Any]]:
    service = _service(1, None, ha_discovery=False)
    views = [_view(float(i)) for i in range(n)]
    started = time.perf_counter()
    for view in views:
        encode_json(site_payload(view))
    encode_us = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for i, view in enumerate(views):
        service.publish_site(view)
        service.publish_session_event(SessionNotice("started", "wb1:1", f"s{i}", at_s=float(i)))
    call_us = (time.perf_counter() - started) / n * 1e6
    stats = service.stats().queue
    return [
        {
            "case": "publish_site + event, broker down",
            "per_call_us": round(call_us, 1),
            "ratio_to_site_json_encode": round(call_us / encode_us, 1),
        },
        {
            "case": f"queue after {n} updates",
            "pending_states": stats.pending_states,
            "pending_events": stats.pending_events,
            "pending_bytes": stats.pending_bytes,
            "dropped_events": stats.dropped_events,
        },
    ]


async def _drain_rate(broker: Mosquitto, qos: int, updates: int) -> float:
    service = _service(broker.port, broker.edge_password_file, qos=qos, ha_discovery=False)
    task = asyncio.create_task(service.run())
    try:
        while not service.stats().connected:  # noqa: ASYNC110 - polls counters
            await asyncio.sleep(0.01)
        base = service.stats().published
        started = time.perf_counter()
        for i in range(updates):
            service.publish_session_event(SessionNotice("started", "wb1:1", f"s{i}", at_s=float(i)))
        while service.stats().published < base + updates:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        return updates / (time.perf_counter() - started)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def run() -> list[dict[str, Any]]:
    rows = _publish_cost(5000)
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp))
        broker.start()
        try:
            rate0 = asyncio.run(_drain_rate(broker, 0, 900))
            rate1 = asyncio.run(_drain_rate(broker, 1, 900))
        finally:
            broker.stop()
    rows.append({"case": "drain to mosquitto, QoS 0", "messages_per_s": round(rate0)})
    rows.append(
        {
            "case": "drain to mosquitto, QoS 1",
            "messages_per_s": round(rate1),
            "ratio_qos1_to_qos0": round(rate1 / rate0, 2),
        }
    )
    return rows
