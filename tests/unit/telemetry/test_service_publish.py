"""The sync publish API: never raises into the control loop, bounded while never connected."""

from __future__ import annotations

from edge_controller.config.settings import MqttSettings
from edge_controller.domain.commands import Command
from edge_controller.domain.snapshot import DeviceView, SiteView
from edge_controller.telemetry import CommandResult, MqttService


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
