"""State payloads, fault advice, topic forms, discovery templates and the reconnect delay."""

from __future__ import annotations

import random
import re

from edge_controller.domain.backoff import reconnect_delay_s
from edge_controller.domain.snapshot import Availability, ConnectorView, SiteView
from edge_controller.telemetry.advice import GENERAL_ADVICE, fault_advice
from edge_controller.telemetry.discovery import CONNECTOR_SENSORS, SITE_SENSORS, Discovery, safe_id
from edge_controller.telemetry.payloads import connector_payload, encode_json, site_payload
from edge_controller.telemetry.topics import Topics, connector_id_from_topic_id, connector_topic_id

VIEW = ConnectorView("wb1:1", Availability.CHARGING, 16.0, "fuse", (1.0, 2.0, float("nan")))
SITE = SiteView("s", None, 40.0, None, None, connectors=(VIEW,))


def test_non_finite_numbers_become_null_and_encode() -> None:
    body = connector_payload(VIEW)
    assert body["measured_current_a"] == {"l1": 1.0, "l2": 2.0, "l3": None}
    assert b"NaN" not in encode_json(body)


def test_site_without_grid_reading_has_null_currents() -> None:
    body = site_payload(SITE)
    assert body["grid_current_a"] is None and body["headroom_min_a"] is None
    assert body["allocation"] == [
        {"connector_id": "wb1:1", "offered_current_a": 16.0, "reason": "fuse"}
    ]


def test_the_site_state_says_what_holds_for_the_whole_allocation() -> None:
    settling = SiteView(
        "s",
        None,
        40.0,
        None,
        None,
        connectors=(VIEW,),
        allocation_notes=("settling after a decrease",),
    )
    body = site_payload(settling)
    assert body["allocation_notes"] == ["settling after a decrease"]
    assert body["allocation"][0]["reason"] == "fuse"  # the connector's own, without it
    assert site_payload(SITE)["allocation_notes"] == []


def test_faulted_connector_always_carries_advice() -> None:
    faulted = ConnectorView("wb1:1", Availability.FAULTED, 0.0, "fault")
    body = connector_payload(faulted)
    assert body["fault_text"] == "fault"
    assert body["fault_advice"] == GENERAL_ADVICE
    assert connector_payload(VIEW)["fault_advice"] is None


def test_fault_advice_by_kind() -> None:
    assert "cooled down" in fault_advice("Over-temperature at relay")
    assert "earth-leakage" in fault_advice("RCM DC fault 6 mA")
    assert "not answering" in fault_advice("Modbus timeout")
    assert fault_advice("vendor code 0x4711") == GENERAL_ADVICE


def test_connector_topic_form_round_trips() -> None:
    for connector_id in ("wb1:1", "wb-2:12", "a.b_c:3"):
        topic_id = connector_topic_id(connector_id)
        assert ":" not in topic_id
        assert connector_id_from_topic_id(topic_id) == connector_id
    assert connector_id_from_topic_id("nonumber") is None


def test_command_name_only_directly_under_cmd() -> None:
    topics = Topics("edge/s/")
    assert topics.command_name("edge/s/cmd/site_limit") == "site_limit"
    assert topics.command_name("edge/s/cmd/site_limit/response") is None
    assert topics.command_name("edge/other/cmd/site_limit") is None


def test_reply_topics_only_deep_under_cmd() -> None:
    topics = Topics("edge/s")
    assert topics.is_reply_topic("edge/s/cmd/reply/app-1")
    assert not topics.is_reply_topic("edge/s/cmd/site_limit")  # a command topic
    assert not topics.is_reply_topic("edge/s/status")
    assert not topics.is_reply_topic("homeassistant/sensor/x/y/config")
    assert not topics.is_reply_topic("edge/s/cmd/reply/#")


def test_discovery_templates_name_fields_the_payloads_have() -> None:
    field = re.compile(r"value_json\.([a-z_]+)(?:\.(l[123]))?")
    connector_body = connector_payload(VIEW)
    site_body = site_payload(
        SiteView("s", (1.0, 2.0, 3.0), 40.0, (1.0, 1.0, 1.0), 0.1, grid_voltage_v=(230.0,) * 3)
    )
    for specs, body in ((CONNECTOR_SENSORS, connector_body), (SITE_SENSORS, site_body)):
        for spec in specs:
            for key, phase in field.findall(spec.value_template):
                assert key in body, spec
                if phase:
                    assert phase in body[key], spec


def test_discovery_ids_are_safe_for_home_assistant() -> None:
    discovery = Discovery("homeassistant", "site.1", Topics("edge/site.1"))
    for topic, config in discovery.connector_configs("wb.1:2") + discovery.site_configs():
        node_and_object = topic.split("/")[2:4]
        assert all(re.fullmatch(r"[A-Za-z0-9_-]+", part) for part in node_and_object)
        assert config["unique_id"] == safe_id(config["unique_id"])


def test_reconnect_delay_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    delays = [reconnect_delay_s(n, 1.0, 30.0, rng) for n in range(12)]
    assert all(0.5 <= d <= 30.0 for d in delays)
    assert delays[-1] >= 15.0  # capped at 30 s, at least half of it
    assert reconnect_delay_s(3, 1.0, 30.0, rng) != reconnect_delay_s(3, 1.0, 30.0, rng)


def test_the_storage_alarm_of_the_view_is_published_and_shown() -> None:
    from edge_controller.api.codec import site_from_json, site_to_json
    from edge_controller.api.render import render

    alarm = "edge.db was removed at 2026-01-01 00:00:00 UTC; the database was put back"
    view = SiteView("s", None, 40.0, None, None, storage_alarm=alarm)
    assert site_payload(view)["storage_alarm"] == alarm
    assert site_payload(SITE)["storage_alarm"] is None
    assert site_from_json(site_to_json(view)).storage_alarm == alarm  # `status --json`
    assert f"STORAGE ALARM: {alarm}" in render(view)
    assert "STORAGE ALARM" not in render(SITE)


def test_the_gateway_faults_of_the_view_are_published_shown_and_reported() -> None:
    from edge_controller.api.codec import site_from_json, site_to_json
    from edge_controller.api.render import render
    from edge_controller.domain import site_faults
    from edge_controller.domain.snapshot import GatewayFault

    fault = GatewayFault("safe_budget:hall-a", "child hall-a falls back to 80 A, above the 32 A")
    view = SiteView("s", None, 40.0, None, None, gateway_faults=(fault,))
    assert site_payload(view)["gateway_faults"] == [{"key": fault.key, "text": fault.text}]
    assert site_payload(SITE)["gateway_faults"] == []
    assert site_from_json(site_to_json(view)).gateway_faults == (fault,)  # `status --json`
    assert f"GATEWAY FAULT: {fault.text}" in render(view)
    assert "GATEWAY FAULT" not in render(SITE)
    (reported,) = site_faults.observe(view, {}, 60.0)  # a problem report while it lasts
    assert reported.key == "gateway:safe_budget:hall-a" and fault.text in reported.text


def test_a_parents_children_are_shown_in_status_and_its_json() -> None:
    from edge_controller.api.codec import site_from_json, site_to_json
    from edge_controller.api.render import render
    from edge_controller.domain.snapshot import ChildView

    children = (
        ChildView("hall-a", 0.4, (24.0, 24.0, 24.0), (24.0, 24.0, 24.0), False),
        ChildView("hall-b", 12.5, None, (18.0, 18.0, 18.0), True),
    )
    view = SiteView("s", None, 50.0, None, None, gateway_children=children)
    assert site_from_json(site_to_json(view)).gateway_children == children  # `status --json`
    shown = render(view)
    assert (
        "child hall-a: reporting, last report 0.4 s ago, budget 24/24/24 A, counted at 24/24/24 A"
        in shown
    )
    assert "child hall-b: LOST, last report 12.5 s ago, budget none in force, counted at" in shown
    assert "child " not in render(SITE)
