"""A problem report and its acknowledgement or resolution in the outbox: stored in our own JSON,
rendered for OCPP 1.6 as DataTransfer (vendor id ``edge_controller``, message id
``ProblemReport``, then ``ProblemHandled``) and for 2.x as NotifyEvent when sent."""

from __future__ import annotations

import json
from dataclasses import replace

from edge_controller.domain.problems import (
    ProblemHandled,
    ProblemKind,
    ProblemReported,
    ProblemState,
)
from edge_controller.storage.outbox.codec import decode, encode
from edge_controller.storage.outbox.rows import kind_of
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v16.render import Connection, request
from edge_controller.uplink.v201.monitoring import problem_handled_event

EVENT = ProblemReported("P-000007", "cp2:1", ProblemKind.DAMAGED, "Kabel ä cut", "driver", 1e9)
CONNECTION = Connection(Topology("site", "site", {"cp1": 2, "cp2": 1}), ClockSync())


def test_a_report_is_stored_and_read_back_as_it_was_and_never_thinned() -> None:
    kind, body = encode(EVENT)
    assert kind == "problem_reported" and json.loads(body)["v"] == 1
    assert decode(kind, body) == EVENT
    assert kind_of(EVENT) == "other"


def test_a_report_is_rendered_as_data_transfer_with_the_documented_ids() -> None:
    action, payload = request(EVENT, None, CONNECTION)
    assert action == "DataTransfer"
    assert (payload["vendorId"], payload["messageId"]) == ("edge_controller", "ProblemReport")
    assert json.loads(payload["data"]) == {
        "reference": "P-000007",
        "connectorId": 3,  # cp1:1, cp1:2, cp2:1 on the site identity
        "kind": "damaged",
        "text": "Kabel ä cut",
        "source": "driver",
        "timestamp": "2001-09-09T01:46:40.000Z",
    }
    assert request(EVENT, None, CONNECTION) == (action, payload)  # the same at every attempt


HANDLED = ProblemHandled(
    "P-000007", "cp2:1", ProblemState.RESOLVED, "ops", "Kabel ä new", 1e9, "resolved"
)


def test_a_handled_report_is_stored_and_read_back_as_it_was_and_never_thinned() -> None:
    kind, body = encode(HANDLED)
    assert kind == "problem_handled" and json.loads(body)["v"] == 1
    assert decode(kind, body) == HANDLED
    assert kind_of(HANDLED) == "other"
    earlier = body.replace(',"action":"resolved"', "")  # written before notes were kept
    assert '"action"' not in earlier and decode(kind, earlier) == HANDLED


def test_a_handled_report_is_rendered_as_data_transfer_naming_its_report() -> None:
    action, payload = request(HANDLED, None, CONNECTION)
    assert action == "DataTransfer"
    assert (payload["vendorId"], payload["messageId"]) == ("edge_controller", "ProblemHandled")
    assert json.loads(payload["data"]) == {
        "reference": "P-000007",
        "connectorId": 3,
        "action": "resolved",
        "state": "resolved",
        "by": "ops",
        "note": "Kabel ä new",
        "timestamp": "2001-09-09T01:46:40.000Z",
    }


def test_on_2x_a_resolution_clears_the_reports_problem_and_every_change_is_caused_by_it() -> None:
    acknowledged = replace(HANDLED, state=ProblemState.ACKNOWLEDGED, note="", action="acknowledged")
    noted = replace(HANDLED, action="noted", note="Invoice sent")  # on the resolved report
    at = "2001-09-09T01:46:40.000Z"
    (ack,) = problem_handled_event(acknowledged, 41, 2, at)["eventData"]
    (done,) = problem_handled_event(HANDLED, 42, 2, at)["eventData"]
    assert (ack["eventId"], ack["cause"], ack["actualValue"]) == (1_000_000_041, 7, "true")
    assert "cleared" not in ack and ack["techInfo"] == "P-000007 acknowledged by ops"
    assert (done["eventId"], done["cause"], done["actualValue"], done["cleared"]) == (
        1_000_000_042, 7, "false", True,
    )  # fmt: skip
    assert done["techInfo"] == "P-000007 resolved by ops: Kabel ä new"
    assert done["component"] == {"name": "EVSE", "evse": {"id": 2}}
    (note,) = problem_handled_event(noted, 43, 2, at)["eventData"]
    assert (note["techCode"], note["actualValue"], note["cause"]) == ("noted", "false", 7)
    assert "cleared" not in note  # only the resolution clears it
