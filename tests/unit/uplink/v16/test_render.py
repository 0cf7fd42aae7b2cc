"""Outbox events as OCPP 1.6 requests: one data file per case (``render/<case>.json``).

Each file holds an event as the outbox stores it (type and body), the transaction id the CSMS
gave, and the request an OCPP 1.6 connection sends for it: the payload is compared member by
member and in order (the same event is the same bytes at every attempt) and checked against
the 1.6 schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_controller.storage.outbox.codec import decode, encode
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.dialect import OCPP16
from edge_controller.uplink.schemas import schemas_for
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v16.render import Connection, request

CASES = sorted((Path(__file__).parent / "render").glob("*.json"))
CONNECTION = Connection(Topology("per_charger", "site", {"cp": 2}), ClockSync())


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_an_event_renders_as_the_case_says(path: Path) -> None:
    case = _load(path)
    event = decode(case["event"], json.dumps(case["body"]))
    assert json.loads(encode(event)[1]) == case["body"]  # the stored form reads back as written
    action, payload = request(event, case["remote_transaction_id"], CONNECTION)
    assert action == case["action"]
    assert json.dumps(payload) == json.dumps(case["payload"])  # members and their order
    assert schemas_for(OCPP16).request_problem(action, payload) is None  # a valid 1.6 request


def test_every_case_has_a_reason() -> None:
    assert len(CASES) >= 6
    assert all(_load(path)["why"] for path in CASES)
