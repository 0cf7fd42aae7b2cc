"""The compiled schema checks say "valid" only where the official validator does, on every
schema the ``ocpp`` package ships: for a payload built from each schema and for the same payload
changed at every place (a member dropped or added, each kind of JSON value put in, strings and
lists past their bounds, numbers past theirs)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from jsonschema import validators  # type: ignore[import-untyped]

from edge_controller.uplink.dialect import DIALECTS
from edge_controller.uplink.schema_compile import compile_check
from edge_controller.uplink.schemas import inline_definitions, schemas_for

# Every kind of JSON value, and what a payload read with decimals holds.
VALUES: tuple[Any, ...] = ("x", "", 7, -1, 2.0, 7.5, True, None, [], {}, Decimal("-7.5"))


@functools.cache
def _schemas(version: str) -> dict[str, dict[str, Any]]:
    folder = resources.files("ocpp") / ("v" + version.replace(".", "")) / "schemas"
    return {
        entry.name: inline_definitions(json.loads(entry.read_text(encoding="utf-8-sig")))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


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
    quick = compile_check(schema)
    if quick is None:
        assert '"multipleOf"' in json.dumps(schema)  # read with decimals: left to jsonschema
        return
    official = validators.validator_for(schema)
    sample = _sample(schema)
    assert official(schema).is_valid(sample), name
    assert quick(sample), "a valid payload is taken without the official validator"
    minimal = {k: v for k, v in sample.items() if k in schema.get("required", [])}
    assert official(schema).is_valid(minimal) and quick(minimal)
    for node in _nodes(schema):
        node_quick, node_official = compile_check(node), official(node)
        assert node_quick is not None
        for payload in _changed(_sample(node), node):
            if node_quick(payload):
                assert node_official.is_valid(payload), (node, payload)


def test_only_the_schemas_with_multiples_are_left_to_the_official_validator() -> None:
    left = [
        (version, name)
        for version, name in _cases()
        if compile_check(_schemas(version)[name]) is None
    ]
    assert left == [
        ("1.6", "GetCompositeScheduleResponse.json"),
        ("1.6", "RemoteStartTransaction.json"),
        ("1.6", "SetChargingProfile.json"),
    ]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
        {"type": "string", "pattern": "^a"},
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        {"type": "object", "properties": {"n": {"$ref": "#/definitions/N"}}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "integer", "exclusiveMinimum": 0},
        {"enum": [1, 2]},
        {"type": "integer", "multipleOf": 2},
    ],
)
def test_a_keyword_not_covered_leaves_the_schema_to_the_official_validator(
    schema: dict[str, Any],
) -> None:
    assert compile_check(schema) is None


def test_what_the_compiled_check_is_not_sure_of_the_official_validator_decides() -> None:
    # Draft 6 takes 2.0 as an integer; the compiled check leaves it to the official one.
    schemas = schemas_for(DIALECTS["2.0.1"])
    reply = {"status": "Accepted", "interval": 300, "currentTime": "2026-11-27T00:00:00Z"}
    assert schemas.response_problem("BootNotification", reply) is None
    assert schemas.response_problem("BootNotification", reply | {"interval": 300.0}) is None
    problem = schemas.response_problem("BootNotification", reply | {"interval": 300.5})
    assert problem is not None and problem.description.startswith("interval:")


def test_a_keyword_applies_to_its_own_kind_of_value_as_in_the_official_validator() -> None:
    schema = {"minimum": 0, "maxLength": 2, "minItems": 1, "required": ["a"]}
    quick, official = compile_check(schema), validators.Draft4Validator(schema)
    assert quick is not None
    for value in ("ab", True, None, 3, {"a": 1}, []):
        assert official.is_valid(value) is quick(value) is (value != [])
    # A Decimal is a number to the official validator (a reading's value is one); not sure of
    # one that is not finite, nor of a subclass.
    at_least = compile_check({"minimum": 0})
    assert at_least is not None and at_least(True) and at_least("x") and not at_least(-1)
    assert not at_least(Decimal("-1")) and not validators.Draft4Validator({"minimum": 0}).is_valid(
        Decimal("-1")
    )
    assert at_least(Decimal("1")) and not at_least(Decimal("NaN"))
    assert quick(Decimal("1")) and official.is_valid(Decimal("1"))
    assert not quick(type("Text", (str,), {})("ab"))
