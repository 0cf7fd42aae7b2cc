"""The schemas compiled by ``fastjsonschema`` say "valid" only where the official validator
does, on every schema the ``ocpp`` package ships: for a payload built from each schema and for
the same payload changed at every place (a member dropped or added, each kind of JSON value put
in, strings and lists past their bounds, numbers past theirs and off their multiples)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from jsonschema import validators  # type: ignore[import-untyped]

from edge_controller.uplink.dialect import DIALECTS, Fault
from edge_controller.uplink.schemas import Refused, compile_quick, inline_definitions, schemas_for

# Every kind of JSON value, and what a payload read with decimals holds.
VALUES: tuple[Any, ...] = ("x", "", 7, -1, 2.0, 7.5, True, None, [], {}, Decimal("-7.5"))


Check = Callable[[Any], bool]


@functools.cache
def _texts(version: str) -> dict[str, str]:
    folder = resources.files("ocpp") / ("v" + version.replace(".", "")) / "schemas"
    return {
        entry.name: entry.read_text(encoding="utf-8-sig")
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


# Inlined definitions repeat (custom data, enums): each is compiled once.
_compiled = functools.cache(compile_quick)


def _schemas(version: str) -> dict[str, dict[str, Any]]:
    return {name: inline_definitions(json.loads(text)) for name, text in _texts(version).items()}


def _quick(schema: dict[str, Any]) -> Check:
    check = _compiled(json.dumps(schema))

    def valid(payload: Any) -> bool:
        try:
            check(payload)
        except Exception:
            return False
        return True

    return valid


def _official(schema: dict[str, Any], draft: str) -> Check:
    """``jsonschema`` as ``Schemas`` runs it: with decimals where the file has a multiple."""
    decimals = '"multipleOf"' in json.dumps(schema)
    if decimals:
        schema = json.loads(json.dumps(schema), parse_float=Decimal)
    validator = validators.validator_for({"$schema": draft}, default=validators.Draft4Validator)
    checker = validator(schema)
    if not decimals:
        return checker.is_valid  # type: ignore[no-any-return]
    return lambda payload: checker.is_valid(_with_decimals(payload))


def _with_decimals(value: Any) -> Any:
    """``value`` as ``Schemas`` reads it for a schema with multiples: floats as decimals."""
    if type(value) is float:
        return Decimal(repr(value))
    if isinstance(value, list):
        return [_with_decimals(item) for item in value]
    if isinstance(value, dict):
        return {name: _with_decimals(member) for name, member in value.items()}
    return value


def _sample(schema: dict[str, Any]) -> Any:
    """A value the schema takes, with every member it describes."""
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        return {name: _sample(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_sample(schema["items"])] * max(schema.get("minItems", 1), 1)
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2026-11-27T00:00:00.000Z"
        return "a" * max(schema.get("minLength", 1), 1)
    if kind in ("integer", "number"):
        bound = schema.get("minimum", schema.get("maximum", 1))
        return int(bound) if kind == "integer" else bound
    if kind == "boolean":
        return False
    return None


def _changed(value: Any, schema: dict[str, Any]) -> Iterator[Any]:
    """``value`` changed in each way at its own level (its members and items are nodes of the
    schema too, each changed in its turn)."""
    yield from VALUES
    if isinstance(value, str):
        yield value * (schema.get("maxLength", 1) + 1)
        yield "2026-13-45 not a time"
    if isinstance(value, int | float) and not isinstance(value, bool):
        yield from (value - 1, value + 1, value - 0.5, float(value), value * 1000)
        # Off a multiple of 0.1 by less than a float's step at that size, and on one.
        yield from (value + 0.1, value + 0.05, 1000000.0000000001, 0.30000000000000004, 21.4)
    if isinstance(value, list):
        yield []
        yield value * (schema.get("maxItems", 1) + 1)
        yield from ([other, *value[1:]] for other in VALUES)
    if isinstance(value, dict):
        yield value | {"notInTheSchema": 1}
        for name in value:
            yield {k: v for k, v in value.items() if k != name}
            yield from (value | {name: other} for other in VALUES)


def _nodes(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``schema`` and every schema inside it."""
    yield schema
    for sub in schema.get("properties", {}).values():
        yield from _nodes(sub)
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"])


def _cases() -> Iterator[tuple[str, str]]:
    for version in sorted(DIALECTS):
        for name in sorted(_schemas(version)):
            yield version, name


@pytest.mark.parametrize(("version", "name"), list(_cases()))
def test_a_compiled_check_never_takes_what_the_official_validator_refuses(
    version: str, name: str
) -> None:
    schema = _schemas(version)[name]
    draft = schema.get("$schema", "")
    quick, official = _quick(schema), _official(schema, draft)
    sample = _sample(schema)
    assert official(sample), name
    assert quick(sample), "a valid payload is taken without the official validator"
    minimal = {k: v for k, v in sample.items() if k in schema.get("required", [])}
    assert official(minimal) and quick(minimal)
    assert _taken_but_refused(schema, _quick) is None


def _taken_but_refused(
    schema: dict[str, Any], compile_node: Callable[[dict[str, Any]], Check]
) -> tuple[dict[str, Any], Any] | None:
    """A node of ``schema`` and a changed payload for it that the node compiled by
    ``compile_node`` takes and the official validator refuses; None when there is none."""
    draft = schema.get("$schema", "")
    for node in _nodes(schema):
        node_quick, node_official = compile_node(node | {"$schema": draft}), _official(node, draft)
        for payload in _changed(_sample(node), node):
            if node_quick(payload) and not node_official(payload):
                return node, payload
    return None


@pytest.mark.parametrize(
    ("version", "name", "keyword"),
    [
        ("2.0.1", "TransactionEventRequest.json", "required"),
        ("2.0.1", "TransactionEventRequest.json", "additionalProperties"),
        ("2.0.1", "TransactionEventRequest.json", "enum"),
        ("2.0.1", "TransactionEventRequest.json", "maxLength"),
        ("2.0.1", "MeterValuesRequest.json", "minItems"),
        ("2.0.1", "MeterValuesRequest.json", "type"),
        ("1.6", "SetChargingProfile.json", "multipleOf"),
        ("2.0.1", "NotifyEVChargingNeedsRequest.json", "minimum"),
    ],
)
def test_the_cross_check_finds_a_check_that_skips_a_keyword(
    version: str, name: str, keyword: str
) -> None:
    # A seeded fault: the compiled check built without one keyword takes too much.
    def without(node: dict[str, Any]) -> Check:
        return _quick(json.loads(json.dumps(node).replace(f'"{keyword}"', '"skipped"')))

    assert _taken_but_refused(_schemas(version)[name], without) is not None


def test_a_multiple_is_checked_on_the_decimals_of_the_number() -> None:
    # SetChargingProfile: limit is a multiple of 0.1. 21.4 / 0.1 is 213.99999999999997 in
    # floats; 1000000.0000000001 / 0.1 is 10000000.0 in floats and not in decimals.
    schemas = schemas_for(DIALECTS["1.6"])
    period = {"startPeriod": 0, "limit": 21.4}
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [period]},
    }
    payload = {"connectorId": 1, "csChargingProfiles": profile}
    quick = compile_quick(_texts("1.6")["SetChargingProfile.json"])
    assert quick(payload) is payload  # taken by the compiled check itself
    assert schemas.request_problem("SetChargingProfile", payload) is None
    period["limit"] = 1000000.0000000001
    with pytest.raises(Refused):
        quick(payload)
    problem = schemas.request_problem("SetChargingProfile", payload)
    assert problem is not None and problem.fault is Fault.PROPERTY
    assert "chargingSchedulePeriod/0/limit" in problem.description


def test_what_the_compiled_check_refuses_the_official_validator_decides() -> None:
    schemas = schemas_for(DIALECTS["2.0.1"])
    reply = {"status": "Accepted", "interval": 300, "currentTime": "2026-11-27T00:00:00Z"}
    assert schemas.response_problem("BootNotification", reply) is None
    assert schemas.response_problem("BootNotification", reply | {"interval": 300.0}) is None
    problem = schemas.response_problem("BootNotification", reply | {"interval": 300.5})
    assert problem is not None and problem.fault is Fault.TYPE
    assert problem.description == "interval: 300.5 is not of type 'integer'"
    # A time is not checked as one by either (no format checker): the text is taken.
    assert schemas.response_problem("BootNotification", reply | {"currentTime": "no"}) is None


def test_a_reading_in_decimals_is_taken_as_numbers_and_nothing_is_added() -> None:
    # 2.x readings are Decimals; the schema's defaults (unit "Wh", ...) stay out of the payload.
    schemas = schemas_for(DIALECTS["2.0.1"])
    value: dict[str, Any] = {"value": Decimal("1234.5")}
    payload = {"evseId": 1, "meterValue": [{"timestamp": "2026-11-27T00:00:00Z",
                                             "sampledValue": [value]}]}  # fmt: skip
    before = json.dumps(payload, default=str)
    quick = compile_quick(_texts("2.0.1")["MeterValuesRequest.json"])
    assert quick(payload) is payload
    assert json.dumps(payload, default=str) == before
    assert schemas.request_problem("MeterValues", payload) is None
    value["value"] = True  # a bool is no number
    with pytest.raises(Refused):
        quick(payload)
    problem = schemas.request_problem("MeterValues", payload)
    assert problem is not None and problem.fault is Fault.TYPE
    assert problem.description == "meterValue/0/sampledValue/0/value: True is not of type 'number'"


def test_a_keyword_applies_to_its_own_kind_of_value_as_in_the_official_validator() -> None:
    schema = {"minimum": 0, "maxLength": 2, "minItems": 1, "required": ["a"]}
    quick, official = _quick(schema), validators.Draft4Validator(schema)
    for value in ("ab", True, None, 3, {"a": 1}, [], Decimal("1"), Decimal("-1")):
        assert official.is_valid(value) is quick(value) is (value not in ([], Decimal("-1")))
