"""Retained state, the last will, the memory bound while the broker is down, broker restart."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from edge_controller.telemetry import SessionNotice
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.conftest import RecordingSink, make_service, running, wait_until
from tests.integration.mqtt.helpers import (
    app_client,
    as_json,
    on_payload,
    on_topic,
    site_view,
    topic,
    wait_all,
    wait_message,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


async def test_retained_state_is_there_for_a_late_subscriber(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    service = make_service(broker, sink)
    service.publish_site(site_view(at_s=5.0))
    async with running(service):
        await wait_until(lambda: service.stats().queue.pending_states == 0)
        async with app_client(broker) as app:
            await app.subscribe(topic("#"))
            status = await wait_message(app, on_topic(topic("status")))
            connector = await wait_message(app, on_topic(topic("connectors/wb1-1/state")))
    assert status.payload == b"online" and status.retain
    body = as_json(connector)
    assert connector.retain
    assert body["availability"] == "Charging"
    assert body["measured_current_a"] == {"l1": 10.5, "l2": 10.4, "l3": 10.6}
    assert body["offered_current_a"] == 16.0
    assert body["power_w"] == 7360.0
    assert body["session_energy_wh"] == 1234.5


async def test_a_state_is_published_when_it_changes_not_at_every_tick(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    # A thousand connectors' unchanged states every second crowded out the changed ones.
    service = make_service(broker, sink)
    ticks = [(1.0, 7360.0), (2.0, 7360.0), (3.0, 7360.0), (4.0, 3680.0), (14.0, 3680.0)]
    ticks.append((15.0, 3680.0))  # after every message of the tick before
    seen: list[tuple[str, float]] = []
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("#"))
        for at_s, power_w in ticks:  # the first three change nothing but the time
            service.publish_site(site_view(at_s, power_w))
            await wait_until(lambda: service.stats().queue.pending_states == 0)
        while ("site/state", 15.0) not in seen:
            message = await wait_message(app, lambda m: str(m.topic) != topic("status"))
            body = as_json(message)
            seen.append((str(message.topic).removeprefix(topic("")), body.get("at_s", 0.0)))

    def published(state: str) -> list[float]:
        return [at_s for shown, at_s in seen if shown == state]

    assert published("site/state") == [1.0, 2.0, 3.0, 4.0, 14.0, 15.0]
    assert published("connectors/wb1-1/state") == [1.0, 4.0]  # its power changed at 4 s
    assert published("connectors/wb1-2/state") == [1.0]
    # A device's counters are published again 10 s later (here they did not move).
    assert len(published("devices/wb1/state")) == 2


async def test_session_energy_alone_is_published_on_its_deadband_and_period(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    # 0.1 Wh steps: a charging connector's state at every reading of its meter, 340 a second
    # at 1,000 connectors. Alone, it goes out once it moved 10 Wh or 10 s later (the defaults).
    service = make_service(broker, sink)
    # (at, energy Wh, power W, session); each a tick of the control loop.
    ticks: list[tuple[float, float | None, float, str | None]] = [
        (1.0, 100.0, 7360.0, "s-1"),  # the first state
        (2.0, 100.1, 7360.0, "s-1"),
        (3.0, 109.9, 7360.0, "s-1"),
        (4.0, 110.0, 7360.0, "s-1"),  # 10 Wh since the last published
        (5.0, 110.3, 7360.0, "s-1"),
        (13.9, 112.0, 7360.0, "s-1"),
        (14.0, 112.1, 7360.0, "s-1"),  # 10 s since the last published
        (15.0, 112.2, 3680.0, "s-1"),  # with another change, at once
        (16.0, 112.3, 3680.0, "s-1"),
        (17.0, None, 3680.0, None),  # the session's end, at once
        (18.0, None, 3680.0, None),
    ]
    seen: list[tuple[float, float | None]] = []
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("connectors/wb1-1/state"))
        for at_s, energy_wh, power_w, session in ticks:
            view = site_view(at_s, power_w)
            charging = dataclasses.replace(
                view.connectors[0], session_energy_wh=energy_wh, session_id=session
            )
            service.publish_site(dataclasses.replace(view, connectors=(charging,)))
            await wait_until(lambda: service.stats().queue.pending_states == 0)
        while not seen or seen[-1][0] != 17.0:
            body = as_json(await wait_message(app, on_topic(topic("connectors/wb1-1/state"))))
            seen.append((body["at_s"], body["session_energy_wh"]))
    assert seen == [(1.0, 100.0), (4.0, 110.0), (14.0, 112.1), (15.0, 112.2), (17.0, None)]


async def test_site_device_and_fault_topics(broker: Mosquitto, sink: RecordingSink) -> None:
    service = make_service(broker, sink)
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("#"))
        service.publish_site(site_view(at_s=6.0))
        site = as_json(await wait_message(app, on_topic(topic("site/state"))))
        fault = as_json(await wait_message(app, on_topic(topic("connectors/wb1-2/state"))))
        device = as_json(await wait_message(app, on_topic(topic("devices/wb1/state"))))
    assert site["grid_current_a"] == {"l1": 20.0, "l2": 21.0, "l3": 19.5}
    assert site["headroom_min_a"] == 19.0
    assert site["allocation"][0] == {
        "connector_id": "wb1:1",
        "offered_current_a": 16.0,
        "reason": "fuse L2 32A",
    }
    assert fault["availability"] == "Faulted"
    assert fault["fault_text"] == "RCD tripped"
    assert "earth-leakage" in fault["fault_advice"]
    assert device["available"] is True and device["error_count"] == 2


async def test_last_will_marks_site_offline_when_process_is_killed(broker: Mosquitto) -> None:
    script = ROOT / "tests" / "integration" / "mqtt" / "publisher_proc.py"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(broker.port),
        str(broker.edge_password_file),
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        async with app_client(broker) as app:
            await app.subscribe(topic("#"))
            await wait_all(
                app,
                [on_topic(topic("connectors/wb1-1/state")), on_payload(topic("status"), b"online")],
                timeout_s=30,
            )
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 10)
            offline = await wait_message(app, on_topic(topic("status")))
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 10)
    assert offline.payload == b"offline"


async def test_orderly_stop_says_offline(broker: Mosquitto, sink: RecordingSink) -> None:
    service = make_service(broker, sink)
    async with running(service):
        pass
    async with app_client(broker) as app:
        await app.subscribe(topic("status"))
        status = await wait_message(app, on_topic(topic("status")))
    assert status.payload == b"offline"


async def test_memory_stays_bounded_while_broker_is_down(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    broker.stop()
    service = make_service(broker, sink, max_queued_events=50, max_queued_bytes=20_000)
    async with running(service, wait_connected=False):
        for i in range(5000):
            service.publish_site(site_view(at_s=float(i), power_w=float(i)))
            service.publish_session_event(
                SessionNotice("started", "wb1:1", f"s-{i}", at_s=float(i))
            )
        stats = service.stats().queue
        assert stats.pending_events <= 50
        assert stats.state_topics <= 64  # discovery configs + site + 2 connectors + 1 device
        assert stats.pending_bytes <= 20_000 + 64 * 2_000
        assert stats.dropped_events == 5000 - 50
        assert service.stats().published == 0
        broker.start()
        await wait_until(lambda: service.stats().connected)
        await wait_until(lambda: service.stats().queue.pending_events == 0)
        await wait_until(lambda: service.stats().queue.pending_states == 0)
        async with app_client(broker) as app:
            await app.subscribe(topic("connectors/+/state"))
            latest = await wait_message(app, on_topic(topic("connectors/wb1-1/state")))
    after = service.stats()
    assert as_json(latest)["at_s"] == 4999.0  # only the latest state survived the outage
    assert after.queue.dropped_events == 5000 - 50  # the 50 newest events were all sent
    assert after.published >= 50 + 4


async def test_broker_restart_mid_run_republishes_latest_state(
    broker: Mosquitto, sink: RecordingSink
) -> None:
    service = make_service(broker, sink)
    async with running(service):
        service.publish_site(site_view(at_s=1.0, power_w=1000.0))
        await wait_until(lambda: service.stats().queue.pending_states == 0)
        connects = service.stats().connects
        broker.stop()  # no persistence: every retained message is gone
        service.publish_connector(site_view(at_s=2.0, power_w=2000.0).connectors[0])
        broker.start()
        await wait_until(lambda: service.stats().connects > connects and service.stats().connected)
        async with app_client(broker) as app:
            await app.subscribe(topic("#"))
            state, site, status = await wait_all(
                app,
                [
                    on_topic(topic("connectors/wb1-1/state"), at_s=2.0),
                    on_topic(topic("site/state")),
                    on_topic(topic("status")),
                ],
            )
    assert as_json(state)["power_w"] == 2000.0
    assert as_json(site)["at_s"] == 1.0  # published before the restart, replayed after it
    assert status.payload == b"online"


async def test_a_full_publish_window_logs_no_warning(
    broker: Mosquitto, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    # A large site keeps the whole window awaiting the broker in a busy second; the client
    # warned about it at every publish past 10 (28,000 lines in 15 minutes at 1,000 connectors).
    service = make_service(broker, sink, qos=1)
    devices = [f"d{n:03}" for n in range(200)]
    caplog.set_level(logging.WARNING)
    async with running(service), app_client(broker) as app:
        await app.subscribe(topic("#"), qos=1)
        for device in devices:
            service.publish_other(topic(f"devices/{device}/state"), b"{}", retain=True)
        seen = set()
        while len(seen) < len(devices):
            message = await wait_message(app, lambda m: "/devices/" in str(m.topic))
            seen.add(str(message.topic))
        stats = service.stats()
    assert stats.published >= len(devices) and stats.publish_errors == 0
    warned = [r.getMessage() for r in caplog.records if "pending publish" in r.getMessage()]
    assert warned == []
