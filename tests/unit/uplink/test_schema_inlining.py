"""Schema checks run on schemas whose local references are replaced by the definitions
they name (``inline_definitions``): the same verdicts as the official files, without a
reference lookup at every step (the replay benchmark's CPU per message)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from jsonschema import validators  # type: ignore[import-untyped]

from edge_controller.uplink.dialect import DIALECTS
from edge_controller.uplink.schemas import inline_definitions, schemas_for


def _schemas(version: str) -> dict[str, dict[str, Any]]:
    """The official schemas the ``ocpp`` package ships, by file name."""
    folder = resources.files("ocpp") / ("v" + version.replace(".", "")) / "schemas"
    return {
        entry.name: json.loads(entry.read_text(encoding="utf-8-sig"))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


def _outside_definitions(schema: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in schema.items() if k != "definitions"})


@pytest.mark.parametrize("version", sorted(DIALECTS))
def test_every_official_schema_is_left_without_a_reference(version: str) -> None:
    schemas = _schemas(version)
    assert len(schemas) > 40
    with_refs = [name for name, s in schemas.items() if "$ref" in _outside_definitions(s)]
    assert with_refs, "the files refer to their definitions"
    left = [n for n, s in schemas.items() if "$ref" in _outside_definitions(inline_definitions(s))]
    assert left == []


def _event(**changes: Any) -> dict[str, Any]:
    value = {"value": 5, "measurand": "Energy.Active.Import.Register",
             "unitOfMeasure": {"unit": "Wh"}}  # fmt: skip
    event = {
        "eventType": "Updated",
        "timestamp": "2026-11-27T00:00:00.000Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 1,
        "transactionInfo": {"transactionId": "1-1"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": "2026-11-27T00:00:00.000Z", "sampledValue": [value]}],
    }
    return event | changes


PAYLOADS = [
    ("valid", _event(), None),
    ("evse id a string", _event(evse={"id": "1"}), "evse/id"),
    ("unknown measurand", _event(meterValue=[{"timestamp": "2026-11-27T00:00:00Z",
     "sampledValue": [{"value": 1, "measurand": "Nope"}]}]), "meterValue/0/sampledValue/0"),
    ("no sampled value", _event(meterValue=[{"timestamp": "2026-11-27T00:00:00Z",
     "sampledValue": []}]), "meterValue/0/sampledValue"),
    ("member the schema lacks", _event(transactionInfo={"transactionId": "1", "x": 1}),
     "transactionInfo"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "payload", "where"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_the_same_verdict_as_the_official_file(
    version: str, name: str, payload: dict[str, Any], where: str | None
) -> None:
    del name
    schema = _schemas(version)["TransactionEventRequest.json"]
    official = validators.validator_for(schema)(schema)
    assert official.is_valid(payload) is (where is None)
    problem = schemas_for(DIALECTS[version]).request_problem("TransactionEvent", payload)
    if where is None:
        assert problem is None
    else:
        assert problem is not None and problem.description.startswith(where), problem


def test_a_definition_that_refers_to_itself_keeps_its_reference() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-06/schema#",
        "definitions": {
            "Node": {
                "type": "object",
                "properties": {"next": {"$ref": "#/definitions/Node"}, "n": {"type": "integer"}},
                "additionalProperties": False,
            }
        },
        "type": "object",
        "properties": {"head": {"$ref": "#/definitions/Node"}},
    }
    flat = inline_definitions(schema)
    check = validators.validator_for(flat)(flat)
    assert check.is_valid({"head": {"n": 1, "next": {"n": 2, "next": {"n": 3}}}})
    assert not check.is_valid({"head": {"n": 1, "next": {"n": "two"}}})
    assert "$ref" not in json.dumps(flat["properties"]["head"]["properties"]["n"])
