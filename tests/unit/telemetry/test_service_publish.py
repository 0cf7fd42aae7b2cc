"""The sync publish API: never raises into the control loop, bounded while never connected."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from edge_controller.config.settings import MqttSettings
from edge_controller.domain.commands import Command
from edge_controller.domain.snapshot import DeviceView, SiteView
from edge_controller.telemetry import CommandResult, MqttService
from edge_controller.telemetry.service import PUBLISH_WINDOW


class _Sink:
    async def decide(self, command: Command) -> CommandResult:
        return CommandResult.failure("not used")


def _service(**settings: object) -> MqttService:
    return MqttService(
        MqttSettings(enabled=True, **settings),
        prefix="edge/s",
        site_id="s",
        connector_ids=["wb1:1"],
        sink=_Sink(),
    )


def test_a_malformed_view_is_logged_and_skipped_not_raised() -> None:
    service = _service(ha_discovery=False)
    broken = DeviceView("m1", available=True, errors={"timeout": "many"})  # type: ignore[dict-item]
    service.publish_site(SiteView("s", None, 40.0, None, None, devices=(broken,)))
    stats = service.stats()
    assert stats.publish_errors == 1
    assert stats.queue.pending_states == 1  # the site state itself was queued


def test_discovery_is_queued_at_start_only_when_enabled() -> None:
    assert _service().stats().queue.pending_states == 11 + 7  # site sensors + one connector's
    assert _service(ha_discovery=False).stats().queue.pending_states == 0


def test_without_retain_state_goes_through_the_event_bound() -> None:
    service = _service(ha_discovery=False, retain=False, max_queued_events=10)
    for i in range(100):
        service.publish_site(SiteView("s", None, 40.0, None, None, at_s=float(i)))
    stats = service.stats().queue
    assert stats.pending_events == 10
    assert stats.dropped_events == 90


class _SlowBroker:
    """Stands in for the aiomqtt client at its publish call, which Mosquitto acknowledges too
    fast to see how many publishes wait at once: each waits until the test acknowledges it."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.waiting: list[asyncio.Future[None]] = []

    async def publish(self, topic: str, payload: bytes, **_: object) -> None:
        self.sent.append(topic)
        acknowledged = asyncio.get_running_loop().create_future()
        self.waiting.append(acknowledged)
        await acknowledged


async def test_publishes_wait_for_their_acknowledgement_together_and_in_order() -> None:
    # One at a time, a 1,000-connector site's states waited ~15 ms each for the broker.
    service = _service(ha_discovery=False)
    for n in range(40):
        service.publish_device(DeviceView(f"d{n:02}", available=True))
    broker = _SlowBroker()
    draining = asyncio.create_task(service._send_pending(broker))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert broker.sent == [f"edge/s/devices/d{n:02}/state" for n in range(PUBLISH_WINDOW)]
    for acknowledged in broker.waiting[:4]:
        acknowledged.set_result(None)
    await asyncio.sleep(0.05)
    assert len(broker.sent) == PUBLISH_WINDOW + 4 and service.stats().published == 4
    broker.waiting[4].set_exception(aiomqtt.MqttError("connection lost"))
    with pytest.raises(aiomqtt.MqttError):
        await draining
    # Every message not acknowledged is queued again, none is lost.
    assert service.stats().queue.pending_states == 40 - 4
