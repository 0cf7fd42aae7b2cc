"""Monitored changes (N): which changes a monitor reports (pure), and the outbox event rendered
as the NotifyEvent the official 2.0.1 and 2.1 schemas allow, its eventId the outbox sequence;
a 1.6 connection cannot send it (parked with the reason)."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from edge_controller.domain.monitoring import MonitorTriggered
from edge_controller.storage.outbox.codec import decode, encode
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.outbox.rendering import NotSendable
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v16 import render as render16
from edge_controller.uplink.v16.render import Connection
from edge_controller.uplink.v201 import render
from edge_controller.uplink.v201.monitoring import Monitor, availability_changes
from tests.outbox_events import T0_S
from tests.unit.uplink.v201.test_render import Queued

CHANGE = MonitorTriggered(3, "c1:2", "AvailabilityState", "Faulted", T0_S + 0.25)


def _monitor(number: int, evse: int, severity: int = 5) -> Monitor:
    return Monitor(number, "Connector", evse, "AvailabilityState", "Delta", severity, 0.0)


def test_n_a_change_is_reported_by_each_monitor_on_it_within_the_level() -> None:
    monitors = [_monitor(1, 1), _monitor(2, 1, severity=8), _monitor(3, 2)]
    before = {1: "Available", 2: "Available", 3: "Available"}
    now = {1: "Occupied", 2: "Available", 3: "Faulted", 4: "Faulted"}
    found = availability_changes(monitors, 5, before, now)
    assert [(m.id, evse, word) for m, evse, word in found] == [(1, 1, "Occupied")]
    everything = availability_changes(monitors, 9, before, now)
    assert [(m.id, evse) for m, evse, _ in everything] == [(1, 1), (2, 1)]
    assert availability_changes(monitors, 9, now, now) == []


def test_n_a_change_is_stored_and_read_back_as_it_was() -> None:
    assert decode(*encode(CHANGE)) == CHANGE


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_n_rendered_as_a_notify_event_the_schema_allows(version: str) -> None:
    topology = Topology("site", "site1", {"c1": 2})
    link = render.Link201(Connection(topology, ClockSync()), lambda _at_s: False, version == "2.1")
    action, payload = render.Ocpp201Rendering(link).request(Queued(CHANGE, None, None, seq=41))
    folder = resources.files("ocpp") / f"v{version.replace('.', '')}" / "schemas"
    schema = json.loads((folder / "NotifyEventRequest.json").read_text(encoding="utf-8-sig"))
    jsonschema.Draft6Validator(schema).validate(payload)
    (event,) = payload["eventData"]
    assert action == "NotifyEvent"
    assert (event["eventId"], event["variableMonitoringId"], event["actualValue"]) == (
        41, 3, "Faulted"
    )  # fmt: skip
    assert event["component"] == {"name": "Connector", "evse": {"id": 2, "connectorId": 1}}
    assert event["timestamp"] == payload["generatedAt"] == "2026-11-27T00:00:00.250Z"


def test_n_a_1_6_connection_does_not_send_it() -> None:
    connection = Connection(Topology("site", "site1", {"c1": 2}), ClockSync())
    with pytest.raises(NotSendable, match=r"OCPP 2\.x only"):
        render16.request(CHANGE, None, connection)
