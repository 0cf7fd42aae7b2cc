"""The sync publish API: never raises into the control loop, bounded while never connected."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import aiomqtt
import pytest

from edge_controller.config.settings import MqttSettings
from edge_controller.domain.commands import Command
from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView, SiteView
from edge_controller.telemetry import CommandResult, MqttService, payloads
from edge_controller.telemetry.client_factory import PUBLISH_WINDOW


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


def _recorded(service: MqttService) -> list[bytes]:
    """The state messages ``service`` queues from now on."""
    bodies: list[bytes] = []
    service._put_state = lambda topic, body: bodies.append(body)  # type: ignore[method-assign]
    return bodies


CHARGING = ConnectorView(
    "wb1:1", Availability.CHARGING, 16.0, "grid L1 30 A", (16.0, 16.0, 16.0), power_w=11040.0,
    session_energy_wh=100.0, session_id="7", id_tag="04AABBF6", at_s=1.0,
)  # fmt: skip
# Another value of each of a connector view's fields but its id, time and session energy.
OTHER = {
    "availability": Availability.SUSPENDED_EV,
    "offered_current_a": 10.0,
    "limit_reason": "max 32 A",
    "measured_current_a": (10.0, 16.0, 16.0),
    "power_w": 6900.0,
    "session_id": "8",
    "id_tag": "04CCDDF6",
    "fault_text": "RCD tripped",
    "reservation_id": 3,
    "status_read_p99_ms": 12.0,
    "meter_reading_age_s": 30.5,
    "plug_wait_token": "04..F6",
    "plug_wait_until_s": 120.0,
    "status_info": "no EV plugged in within ConnectionTimeOut",
    "price": {"per_kwh": "0.49"},
    "running_cost": {"incl_tax": "1.23"},
    "csms_cost": {"cost": "1.20"},
    "session_started_s": 0.5,
    "transaction_id": "7",
}


def test_a_connector_state_unchanged_but_its_time_is_not_made_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []
    original = payloads.connector_payload

    def counted(view: ConnectorView) -> payloads.JsonDict:
        made.append(view.connector_id)
        return original(view)

    monkeypatch.setattr(payloads, "connector_payload", counted)
    service = _service(ha_discovery=False)
    bodies = _recorded(service)
    for at_s in (1.0, 2.0, 3.0, 4.0):  # a thousand of these a tick at a large site
        service.publish_connector(dataclasses.replace(CHARGING, at_s=at_s))
    assert (len(made), len(bodies)) == (1, 1)
    service.publish_connector(dataclasses.replace(CHARGING, limit_reason="max 32 A", at_s=5.0))
    assert (len(made), len(bodies)) == (2, 2)
    assert json.loads(bodies[-1])["limit_reason"] == "max 32 A"


@pytest.mark.parametrize("name", sorted(OTHER))
def test_a_change_of_any_field_the_state_shows_is_published(name: str) -> None:
    shown = {f.name for f in dataclasses.fields(ConnectorView)} - set(OTHER)
    assert shown == {"connector_id", "at_s", "session_energy_wh"}  # a new field: add it above
    changed = dataclasses.replace(CHARGING, **{name: OTHER[name], "at_s": 2.0})
    state = {k: v for k, v in payloads.connector_payload(CHARGING).items() if k != "at_s"}
    after = {k: v for k, v in payloads.connector_payload(changed).items() if k != "at_s"}
    service = _service(ha_discovery=False)
    bodies = _recorded(service)
    service.publish_connector(CHARGING)
    service.publish_connector(changed)
    assert len(bodies) == (1 if after == state else 2)
    assert json.loads(bodies[-1]) == payloads.connector_payload(
        changed if after != state else CHARGING
    )


def test_session_energy_alone_is_published_again_at_once_after_the_clock_was_set_back() -> None:
    """The period runs on the views' wall-clock time: set back (NTP at boot), it would have
    held the energy until the clock passed the last time published again."""
    service = _service(ha_discovery=False)
    bodies = _recorded(service)
    service.publish_connector(dataclasses.replace(CHARGING, at_s=1000.0))
    moved = dataclasses.replace(CHARGING, session_energy_wh=101.0, at_s=1003.0)
    service.publish_connector(moved)  # 1 Wh within 10 s: held
    assert len(bodies) == 1
    set_back = dataclasses.replace(CHARGING, session_energy_wh=102.0, at_s=400.0)
    service.publish_connector(set_back)
    assert len(bodies) == 2
    assert json.loads(bodies[-1])["session_energy_wh"] == 102.0
    # The period then runs from the new time.
    service.publish_connector(dataclasses.replace(set_back, session_energy_wh=103.0, at_s=405.0))
    assert len(bodies) == 2
    service.publish_connector(dataclasses.replace(set_back, session_energy_wh=104.0, at_s=410.0))
    assert json.loads(bodies[-1])["session_energy_wh"] == 104.0


def test_a_device_s_counters_are_published_again_at_once_after_the_clock_was_set_back() -> None:
    service = _service(ha_discovery=False)
    bodies = _recorded(service)
    device = DeviceView("m1", available=True, requests=10)
    service.publish_device(device, 1000.0)
    service.publish_device(dataclasses.replace(device, requests=11), 1001.0)
    assert len(bodies) == 1  # counters alone: held for their period
    service.publish_device(dataclasses.replace(device, requests=12), 400.0)
    assert len(bodies) == 2
    assert json.loads(bodies[-1])["requests"] == 12
