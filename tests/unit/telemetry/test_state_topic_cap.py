"""The state topic cap follows the site's size: a 1,000-connector site publishes every
connector's and device's state under the default cap (it refused 100+ topics at 1,024)."""

from __future__ import annotations

from pathlib import Path

import yaml

from edge_controller.config.load import load_settings
from edge_controller.config.settings import Settings
from edge_controller.domain.commands import Command
from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView
from edge_controller.telemetry import CommandResult, MqttService
from tests.unit.conftest import PROFILES


class _Sink:
    async def decide(self, command: Command) -> CommandResult:
        return CommandResult.failure("not used")


def _charger(n: int, connectors: int) -> dict[str, object]:
    return {
        "bus": "lan",
        "unit_id": 1 + n % 247,
        "profile": "charger_model",
        "connectors": connectors,
    }


def _site(tmp_path: Path, chargers: int, connectors: int, **mqtt: object) -> Settings:
    config = {
        "site": {"id": "big", "grid_limit_a": 6300},
        "buses": {"lan": {"type": "tcp", "host": "127.0.0.1"}},
        "chargers": {f"c{n}": _charger(n, connectors) for n in range(chargers)},
        "meters": {"grid": {"bus": "lan", "unit_id": 248, "profile": "meter_model"}},
        "mqtt": {"enabled": True, **mqtt},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return load_settings(path, PROFILES)


def _publish_everything(service: MqttService, settings: Settings) -> None:
    for charger_id, charger in settings.chargers.items():
        for n in range(1, charger.connectors + 1):
            view = ConnectorView(f"{charger_id}:{n}", Availability.AVAILABLE, 0.0, "idle")
            service.publish_connector(view)
    for device_id in [*settings.chargers, *settings.meters]:
        service.publish_device(DeviceView(device_id, available=True))


def test_a_thousand_connector_site_publishes_every_state_topic(tmp_path: Path) -> None:
    settings = _site(tmp_path, chargers=125, connectors=8, ha_discovery=False)
    assert settings.mqtt_state_topics == 1 + 1000 + 125 + 1
    service = MqttService.from_settings(settings, _Sink())
    _publish_everything(service, settings)
    stats = service.stats().queue
    assert stats.refused_topics == 0
    assert stats.state_topics == settings.mqtt_state_topics - 1  # no site state yet


def test_discovery_configs_come_on_top_of_the_cap(tmp_path: Path) -> None:
    settings = _site(tmp_path, chargers=25, connectors=8)  # 200 connectors
    service = MqttService.from_settings(settings, _Sink())
    _publish_everything(service, settings)
    stats = service.stats().queue
    assert stats.refused_topics == 0
    discovery_topics = 11 + 200 * 7  # the site's sensors, 7 per connector
    assert stats.state_topics == settings.mqtt_state_topics - 1 + discovery_topics


def test_a_small_site_keeps_the_floor(tmp_path: Path) -> None:
    settings = _site(tmp_path, chargers=2, connectors=1)
    assert settings.mqtt_state_topic_cap == 1024


def test_a_configured_cap_is_kept_and_refuses_beyond_it(tmp_path: Path) -> None:
    settings = _site(tmp_path, chargers=4, connectors=8, max_state_topics=40, ha_discovery=False)
    assert settings.mqtt_state_topics == 1 + 32 + 4 + 1
    service = MqttService.from_settings(settings, _Sink())
    _publish_everything(service, settings)
    for n in range(5):
        service.publish_device(DeviceView(f"extra{n}", available=True))
    # 37 published (no site state yet): 3 of the 5 extra devices fit, 2 are refused.
    assert service.stats().queue.state_topics == 40
    assert service.stats().queue.refused_topics == 2


def test_web_payment_and_display_messages_are_counted_in_the_cap(tmp_path: Path) -> None:
    """With web payment (or a CSMS) each connector also has its messages and payment topics,
    and the site its messages: a 1,000-connector site publishes them all under the cap."""
    config = _site(tmp_path, chargers=125, connectors=8, ha_discovery=False)
    template = {"url_template": "https://pay.example/{connector}"}
    settings = Settings.model_validate(
        config.model_dump() | {"payments": {"terminals": {}, "web": template}}
    )
    assert settings.mqtt_state_topics == 1 + 1000 + 125 + 1 + (1 + 2 * 1000)
    service = MqttService.from_settings(settings, _Sink())
    _publish_everything(service, settings)
    service.publish_messages(None, ())
    for charger_id, charger in settings.chargers.items():
        for n in range(1, charger.connectors + 1):
            service.publish_messages(f"{charger_id}:{n}", ())
            service.publish_payment(f"{charger_id}:{n}", {"qr_url": None})
    stats = service.stats().queue
    assert stats.refused_topics == 0
    assert stats.state_topics == settings.mqtt_state_topics - 1  # no site state yet
