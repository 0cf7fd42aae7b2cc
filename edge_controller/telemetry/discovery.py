"""Home Assistant MQTT discovery: one retained config per sensor, so a site shows up in Home
Assistant with no YAML there. The site is one device; each connector is a device under it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge_controller import __version__
from edge_controller.domain.snapshot import Availability
from edge_controller.telemetry.payloads import JsonDict
from edge_controller.telemetry.topics import Topics, connector_topic_id

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
STATE_OPTIONS = [a.value for a in Availability]


@dataclass(frozen=True, slots=True)
class SensorSpec:
    key: str
    name: str
    value_template: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None


def _nullable(path: str, parent: str | None = None) -> str:
    # "None" is what Home Assistant's MQTT sensor reads as "unknown".
    guard = f"value_json.{parent}" if parent else f"value_json.{path} is not none"
    return f"{{{{ value_json.{path} if {guard} else None }}}}"


def _phase_specs(
    field: str, name: str, unit: str = "A", device_class: str = "current"
) -> list[SensorSpec]:
    return [
        SensorSpec(
            f"{field}_l{i}",
            f"{name} L{i}",
            _nullable(f"{field}.l{i}", field),
            unit,
            device_class,
            "measurement",
        )
        for i in (1, 2, 3)
    ]


CONNECTOR_SENSORS: tuple[SensorSpec, ...] = (
    SensorSpec("power", "Power", _nullable("power_w"), "W", "power", "measurement"),
    SensorSpec(
        "session_energy",
        "Session energy",
        "{{ value_json.session_energy_wh if value_json.session_energy_wh is not none else 0 }}",
        "Wh",
        "energy",
        "total_increasing",
    ),
    SensorSpec(
        "offered_current",
        "Offered current",
        _nullable("offered_current_a"),
        "A",
        "current",
        "measurement",
    ),
    *_phase_specs("measured_current_a", "Current"),
    SensorSpec("state", "State", "{{ value_json.availability }}", device_class="enum"),
)

SITE_SENSORS: tuple[SensorSpec, ...] = (
    *_phase_specs("grid_current_a", "Grid current"),
    *_phase_specs("grid_voltage_v", "Grid voltage", "V", "voltage"),
    SensorSpec("grid_power", "Grid power", _nullable("grid_power_w"), "W", "power", "measurement"),
    SensorSpec(
        "grid_import_energy",
        "Grid import energy",
        _nullable("grid_import_energy_wh"),
        "Wh",
        "energy",
        "total_increasing",
    ),
    SensorSpec(
        "grid_export_energy",
        "Grid export energy",
        _nullable("grid_export_energy_wh"),
        "Wh",
        "energy",
        "total_increasing",
    ),
    SensorSpec("headroom", "Headroom", _nullable("headroom_min_a"), "A", "current", "measurement"),
    SensorSpec(
        "charging_power",
        "Charging power",
        _nullable("charging_power_w"),
        "W",
        "power",
        "measurement",
    ),
)


def safe_id(text: str) -> str:
    """An id Home Assistant accepts in discovery topics and unique ids."""
    return _UNSAFE.sub("_", text)


class Discovery:
    """Builds the retained discovery configs of one site."""

    def __init__(self, discovery_prefix: str, site_id: str, topics: Topics) -> None:
        self._prefix = discovery_prefix.rstrip("/")
        self._site = safe_id(site_id)
        self._site_id = site_id
        self._topics = topics
        self._node = f"edge_{self._site}"

    def _site_device(self) -> JsonDict:
        return {
            "identifiers": [f"edge_controller_{self._site}"],
            "name": f"Charging site {self._site_id}",
            "manufacturer": "edge_controller",
            "model": "Site controller",
            "sw_version": __version__,
        }

    def _connector_device(self, connector_id: str) -> JsonDict:
        obj = safe_id(connector_topic_id(connector_id))
        return {
            "identifiers": [f"edge_controller_{self._site}_{obj}"],
            "name": f"Connector {connector_id}",
            "manufacturer": "edge_controller",
            "model": "Charging connector",
            "via_device": f"edge_controller_{self._site}",
        }

    def _config(self, spec: SensorSpec, obj: str, device: JsonDict, state_topic: str) -> JsonDict:
        config: JsonDict = {
            "name": spec.name,
            "unique_id": f"edge_controller_{self._site}_{obj}",
            "device": device,
            "origin": {"name": "edge_controller", "sw_version": __version__},
            "state_topic": state_topic,
            "value_template": spec.value_template,
            "availability_topic": self._topics.status,
            "payload_available": "online",
            "payload_not_available": "offline",
        }
        optional = {
            "unit_of_measurement": spec.unit,
            "device_class": spec.device_class,
            "state_class": spec.state_class,
        }
        config.update({k: v for k, v in optional.items() if v is not None})
        if spec.device_class == "enum":
            config["options"] = STATE_OPTIONS
        return config

    def config_topic(self, obj: str) -> str:
        return f"{self._prefix}/sensor/{self._node}/{obj}/config"

    @staticmethod
    def topic_count(connectors: int) -> int:
        """The config topics of a site with ``connectors`` connectors."""
        return len(SITE_SENSORS) + connectors * len(CONNECTOR_SENSORS)

    def site_configs(self) -> list[tuple[str, JsonDict]]:
        device = self._site_device()
        state = self._topics.site_state
        return [
            (self.config_topic(f"site_{s.key}"), self._config(s, f"site_{s.key}", device, state))
            for s in SITE_SENSORS
        ]

    def connector_configs(self, connector_id: str) -> list[tuple[str, JsonDict]]:
        device = self._connector_device(connector_id)
        state = self._topics.connector_state(connector_id)
        base = safe_id(connector_topic_id(connector_id))
        return [
            (
                self.config_topic(f"{base}_{s.key}"),
                self._config(s, f"{base}_{s.key}", device, state),
            )
            for s in CONNECTOR_SENSORS
        ]
