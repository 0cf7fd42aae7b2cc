"""The site state on MQTT: grid voltage, power and energy, power sums, nothing before it is read."""

from __future__ import annotations

from edge_controller.config.settings import MqttSettings
from edge_controller.domain.commands import Command
from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView, SiteView
from edge_controller.telemetry import CommandResult, MqttService
from edge_controller.telemetry.payloads import device_payload, site_payload

AT_S = 1_764_204_000.0


class _Sink:
    async def decide(self, command: Command) -> CommandResult:
        return CommandResult.failure("not used")


def _connector(cid: str, power_w: float | None) -> ConnectorView:
    return ConnectorView(cid, Availability.CHARGING, 16.0, "max", power_w=power_w, at_s=AT_S)


def test_grid_readings_and_the_charging_power_sum() -> None:
    view = SiteView(
        "s",
        (20.0, 21.0, 19.0),
        50.0,
        (30.0, 29.0, 31.0),
        0.2,
        (_connector("a:1", 11_040.0), _connector("b:1", 3_680.0), _connector("c:1", None)),
        at_s=AT_S,
        grid_voltage_v=(231.04, 229.5, 230.0),
        grid_power_w=-1_250.0,  # exporting
        grid_import_energy_wh=1_234_567.0,
        grid_export_energy_wh=890.0,
    )
    body = site_payload(view)
    assert body["grid_voltage_v"] == {"l1": 231.0, "l2": 229.5, "l3": 230.0}
    assert body["grid_power_w"] == -1250.0
    assert (body["grid_import_energy_wh"], body["grid_export_energy_wh"]) == (1234567.0, 890.0)
    assert body["charging_power_w"] == 14_720.0  # what is known; c:1 has no reading
    assert body["at_s"] == AT_S
    unknown = SiteView("s", None, 50.0, None, None, (_connector("c:1", None),))
    assert site_payload(unknown)["charging_power_w"] is None  # unknown, not 0 W


def test_a_device_row_says_its_fault() -> None:
    view = DeviceView("hd1", True, 5, {"exception_02": 5}, fault_text="hd1: Modbus exception 02")
    assert device_payload(view)["fault_text"] == "hd1: Modbus exception 02"


def test_site_state_waits_until_every_device_was_read() -> None:
    service = MqttService(
        MqttSettings(enabled=True, ha_discovery=False),
        prefix="edge/s",
        site_id="s",
        connector_ids=["a:1", "b:1"],
        sink=_Sink(),
    )
    starting = SiteView(
        "s", None, 50.0, None, None, (_connector("a:1", 0.0),), waiting_for=("grid", "b:1")
    )
    service.publish_site(starting)
    assert service.stats().queue.pending_states == 1  # a:1 only: the site is not known yet
    service.publish_site(SiteView("s", None, 50.0, (5.0, 5.0, 5.0), None, starting.connectors))
    assert service.stats().queue.pending_states == 2  # now site/state too
