"""A problem report in the outbox: stored in our own JSON, rendered for OCPP 1.6 as
DataTransfer (vendor id ``edge_controller``, message id ``ProblemReport``) when sent."""

from __future__ import annotations

import json

from edge_controller.domain.problems import ProblemKind, ProblemReported
from edge_controller.storage.outbox.codec import decode, encode
from edge_controller.storage.outbox.rows import kind_of
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v16.render import Connection, request

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
