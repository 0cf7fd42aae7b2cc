"""Pure pieces of the uplink: topology, clock repair, frame screening, status, config keys."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, datetime

import pytest

from edge_controller.app.problems import station_route
from edge_controller.config.settings import OcppSettings
from edge_controller.domain.backoff import reconnect_delay_s
from edge_controller.domain.sessions.events import ReadingContext
from edge_controller.domain.site_faults import GATEWAY_SUBJECT
from edge_controller.domain.snapshot import Availability, ConnectorView, GatewayFault
from edge_controller.storage.outbox.rows import OutboxMessage
from edge_controller.uplink import frames
from edge_controller.uplink.clock import ClockSync, from_iso, to_iso
from edge_controller.uplink.connection import basic_auth_header, identity_url
from edge_controller.uplink.outbox.rendering import NotSendable, outbox_unique_id
from edge_controller.uplink.topology import Endpoint, Topology, UnknownConnector
from edge_controller.uplink.v16 import config_keys, render, status
from tests.outbox_events import ended, sampled, started


def test_site_topology_numbers_connectors_in_config_order() -> None:
    topo = Topology("site", "site1", {"b": 2, "a": 1})
    assert topo.identities == ("site1",)
    assert topo.locate("b:1") == Endpoint("site1", 1)
    assert topo.locate("b:2") == Endpoint("site1", 2)
    assert topo.locate("a:1") == Endpoint("site1", 3)
    assert topo.connectors("site1") == ["b:1", "b:2", "a:1"]
    assert topo.connector_id("site1", 3) == "a:1"
    assert topo.route("a:1") == "site1"
    assert topo.route("zz:1") is None


def test_per_charger_topology_has_one_identity_per_charger() -> None:
    topo = Topology("per_charger", "ignored", {"b": 2, "a": 1})
    assert topo.identities == ("b", "a")
    assert topo.locate("a:1") == Endpoint("a", 1)
    assert topo.connectors("b") == ["b:1", "b:2"]
    with pytest.raises(UnknownConnector):
        topo.locate("c:1")
    with pytest.raises(UnknownConnector):
        topo.connector_id("b", 3)


def test_a_topology_keeps_each_connector_id_once_for_its_three_maps() -> None:
    """At 1,000 connectors each id was three texts of some 60 bytes: one per map."""
    topo = Topology("site", "site1", {f"c{n}": 1 for n in range(1, 101)})
    for number, local in enumerate(topo.connectors("site1"), start=1):
        assert topo.connector_id("site1", number) is local
        (kept,) = [key for key in topo._by_local if key == local]  # the map's own key
        assert kept is local


def test_clock_repairs_only_implausible_timestamps_after_sync() -> None:
    clock = ClockSync()
    early = "1970-01-01T00:10:00.000Z"
    assert clock.repair(early) == early  # nothing known yet: left for later
    clock.sync("2026-11-27T12:00:00.000Z", local_now_s=3600.0)
    assert clock.repair(early) == "2026-11-27T11:10:00.000Z"
    good = "2026-11-27T10:00:00.000Z"
    assert clock.repair(good) == good
    assert to_iso(from_iso("2026-01-02T03:04:05.678Z")) == "2026-01-02T03:04:05.678Z"


@pytest.mark.parametrize("at_s", [0.0, 600.9996, 1_577_836_799.9999, 1_577_836_800.0,
                                  1_795_737_600.1239, 4_102_444_800.5])  # fmt: skip
def test_a_time_is_written_and_repaired_as_its_text_is(at_s: float) -> None:
    moment = datetime.fromtimestamp(at_s, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert to_iso(at_s) == text
    clock = ClockSync()
    assert clock.iso(at_s) == clock.repair(text) == text  # not synced: left alone
    clock.sync("2026-11-27T12:00:00.000Z", local_now_s=3600.0005)
    assert clock.iso(at_s) == clock.repair(text)


def test_one_clock_for_reports_the_csms_time_only_measures_the_skew() -> None:
    clock = ClockSync()
    local_s = from_iso("2026-11-27T12:00:00.000Z")
    clock.sync("2026-11-27T12:10:00.000Z", local_now_s=local_s)  # the CSMS 600 s ahead
    assert clock.offset_s == 600.0
    assert clock.now_s(local_s) == local_s  # what the site reports stays on its own clock
    assert clock.csms_now_s(local_s) == local_s + 600.0  # for times the CSMS gave
    assert clock.now_s(600.0) == 1200.0  # a clock without RTC (1970) is repaired, as repair()


def test_a_message_keeps_its_unique_id_across_sends() -> None:
    first = OutboxMessage(7, "cp", started(1), "start", 1, None, 1.8e9, 0, None)
    again = dataclasses.replace(first, attempts=1, remote_transaction_id=None)
    other = dataclasses.replace(first, seq=8)
    later_database = dataclasses.replace(first, created_at_s=1.9e9)  # numbered from 1 again
    assert outbox_unique_id(first) == outbox_unique_id(again)
    ids = {outbox_unique_id(m) for m in (first, other, later_database)}
    assert len(ids) == 3 and all(len(i) <= frames.MAX_UNIQUE_ID_CHARS for i in ids)


def test_the_default_frame_limit_fits_a_send_local_list_of_the_whole_list() -> None:
    assert OcppSettings().max_frame_bytes >= frames.full_local_list_bytes()
    assert frames.full_local_list_bytes() > 10_000 * 150  # ~165 bytes an entry at its largest
    big = '[2, "id-1", "DataTransfer", {"data": "' + "x" * 5000 + '"}]'
    assert json.loads(frames.screen(big, 4096).reply or "")[:3] == [4, "id-1", "FormationViolation"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("nope", [4, "-1", "FormationViolation"]),
        ("[]", [4, "-1", "FormationViolation"]),
        ('[5, "a", "X", {}]', [4, "a", "ProtocolError"]),
        ('[true, "a", "X", {}]', [4, "a", "ProtocolError"]),
        ('[2, 7, "X", {}]', [4, "-1", "ProtocolError"]),
        ('[2, "a", "X", []]', [4, "a", "FormationViolation"]),
        ('[2, "a", "X", {}, 1]', [4, "a", "ProtocolError"]),
    ],
)
def test_bad_frames_are_answered(raw: str, expected: list[object]) -> None:
    verdict = frames.screen(raw, 1024)
    assert verdict.reply is not None
    assert json.loads(verdict.reply)[:3] == expected


def test_frames_size_limit_and_responses() -> None:
    assert frames.screen('[2,"a","Reset",{"type":"Soft"}]', 1024).message is not None
    assert frames.screen("[2]" + " " * 2000, 1024).reply is not None
    assert frames.screen('[3,"a",{}]', 1024).message is not None
    assert frames.screen('[3,"a"]', 1024).drop  # a broken response is never answered


def test_fault_text_maps_to_ocpp_error_codes() -> None:
    view = ConnectorView("c:1", Availability.FAULTED, 0.0, "", fault_text="Over current on L2 " * 5)
    result = status.connector_status(1, view, inoperative=False)
    assert result.error_code == "OverCurrentFailure"
    assert result.info is not None and len(result.info) == 50
    assert status.error_code("something odd") == "OtherError"
    available = ConnectorView("c:1", Availability.AVAILABLE, 16.0, "")
    assert status.connector_status(1, available, inoperative=True).status == "Unavailable"


def test_the_charge_point_reports_gateway_faults_while_they_last() -> None:
    """Connector 0 says OtherError with the first fault's text (50 characters at most, with
    how many there are) and its key, and its availability as without them."""
    faults = (
        GatewayFault("no_parent", "no budget from a parent since this child started: it runs"),
        GatewayFault("safe_budget", "the parent has a safe budget of 12 A for this child"),
    )
    one = status.charge_point_status(False, faults[:1])
    assert (one.connector, one.status, one.error_code) == (0, "Available", "OtherError")
    assert one.info == f"gateway: {faults[0].text}"[:50]
    assert one.payload("t")["vendorErrorCode"] == "no_parent"
    two = status.charge_point_status(True, faults)
    assert (two.status, two.info) == ("Unavailable", f"2 gateway faults: {faults[0].text}"[:50])
    assert status.charge_point_status(False, ()) == status.ConnectorStatus(0, "Available")


def test_a_gateway_fault_goes_to_the_first_identity_only() -> None:
    """Its report (filed on no connector) and its status go to one station, the first
    charger's with an identity per charger, the site's with one for the site."""
    per_charger = station_route(Topology("per_charger", "site", {"cp1": 1, "cp2": 2}))
    assert [per_charger(c) for c in (GATEWAY_SUBJECT, "cp2:1", "grid")] == ["cp1", "cp2", None]
    assert station_route(Topology("site", "depot", {}))(GATEWAY_SUBJECT) == "depot"
    assert station_route(Topology("per_charger", "depot", {}))(GATEWAY_SUBJECT) is None


def test_configuration_change_rules() -> None:
    assert config_keys.change_status("HeartbeatInterval", "60") == "Accepted"
    assert config_keys.change_status("HeartbeatInterval", "-5") == "Rejected"
    assert config_keys.change_status("NumberOfConnectors", "4") == "Rejected"
    assert config_keys.change_status("FooBar", "1") == "NotSupported"
    good = "Energy.Active.Import.Register,Current.Import,SoC"
    assert config_keys.change_status("MeterValuesSampledData", good) == "Accepted"
    assert config_keys.change_status("MeterValuesSampledData", "Temperature") == "Rejected"


def test_an_event_gets_connector_number_transaction_id_and_repaired_times() -> None:
    clock = ClockSync()
    clock.sync("2026-11-27T00:00:00Z", local_now_s=0.0)
    connection = render.Connection(Topology("site", "s", {"c1": 2}), clock)
    action, out = render.request(sampled(4, 1500, "c1:2", at_s=10.0), 9, connection)
    assert action == "MeterValues"
    assert out["connectorId"] == 2 and out["transactionId"] == 9
    assert out["meterValue"][0]["timestamp"] == "2026-11-27T00:00:10.000Z"
    assert out["meterValue"][0]["sampledValue"][0]["value"] == "1500"
    with pytest.raises(NotSendable):
        render.request(ended(4, 1600), None, connection)  # the start was never confirmed
    action, out = render.request(started(4, "c1:1"), None, connection)
    assert action == "StartTransaction" and "transactionId" not in out


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [reconnect_delay_s(n, 1.0, 30.0, rng) for n in range(10)]
    assert 0.5 <= delays[0] <= 1.0
    assert all(d <= 30.0 for d in delays)
    assert delays[6] >= 15.0


def test_connection_details() -> None:
    assert identity_url("wss://csms.example/ocpp/", "site 1") == "wss://csms.example/ocpp/site%201"
    assert basic_auth_header("cp1", "0123456789abcdef") == "Basic Y3AxOjAxMjM0NTY3ODlhYmNkZWY="


def test_clock_aligned_boundaries_count_from_midnight() -> None:
    from edge_controller.uplink.v16 import meter_values

    midnight = from_iso("2026-11-27T00:00:00Z")
    assert meter_values.next_aligned_s(midnight + 10, 900) == midnight + 900
    assert meter_values.next_aligned_s(midnight + 900, 900) == midnight + 1800
    # 7 h does not divide a day: the last interval is cut at midnight.
    assert meter_values.next_aligned_s(midnight + 80000, 7 * 3600) == midnight + 86400


def test_sampled_values_skip_what_the_hardware_cannot_measure() -> None:
    from edge_controller.uplink.ports import MeterSample
    from edge_controller.uplink.v16 import meter_values

    sample = MeterSample(at_s=0, energy_register_wh=1234.6, current_a=(1.0, 2.0, 3.0))
    wanted = ["Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "SoC"]
    readings = meter_values.readings(sample, wanted)
    values = [render.sampled_value(r, ReadingContext.PERIODIC) for r in readings]
    assert [v["measurand"] for v in values] == ["Energy.Active.Import.Register"] + [
        "Current.Import"
    ] * 3
    assert values[0]["value"] == "1235" and values[0]["unit"] == "Wh"
    assert [v["phase"] for v in values[1:]] == ["L1", "L2", "L3"]


def test_only_a_csms_given_transaction_id_is_written_power_safe() -> None:
    """The sender fsyncs a start's answer only where asking again would give another id."""
    from edge_controller.uplink.v16.render import Ocpp16Rendering
    from edge_controller.uplink.v201.render import Ocpp201Rendering

    assert Ocpp16Rendering.start_answer_power_safe is True
    assert Ocpp201Rendering.start_answer_power_safe is False
