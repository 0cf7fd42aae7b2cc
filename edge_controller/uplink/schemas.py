"""Schema checks of OCPP payloads with the official JSON schemas the ``ocpp`` package ships.

One ``Schemas`` per version (``schemas_for``), shared by every connection: each schema is read
and its validators built once, on first use. A valid payload costs one call of the schema
compiled to Python by ``fastjsonschema`` (``jsonschema`` builds a validator object at every
level of every payload, the largest part of our CPU per message in a backlog). When that check
refuses or cannot decide (it raises), ``jsonschema`` decides, as the official validator, and
names the fault: error texts and CALLERROR answers are its own. The compiled check is built
without formats, as ``jsonschema`` here runs without a format checker. It takes a tuple as a
JSON array where ``jsonschema`` does not; a tuple is written as one on the wire.

Schemas with ``multipleOf`` (three in 1.6: charging profiles and the composite schedule) are
read, and payloads checked, with decimals for ``jsonschema``: 21.4 is a multiple of 0.1, its
float is not. ``fastjsonschema`` gets those schemas read with floats: it then divides the
decimals of the ``repr`` of value and multiple, the same numbers.
"""

from __future__ import annotations

import contextlib
import decimal
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import validators  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

from edge_controller.uplink.dialect import Dialect, Fault

_FAULTS = {
    "type": Fault.TYPE,
    "maxLength": Fault.TYPE,
    "minLength": Fault.TYPE,
    "format": Fault.TYPE,
    "enum": Fault.PROPERTY,
    "const": Fault.PROPERTY,
    "pattern": Fault.PROPERTY,
    "minimum": Fault.PROPERTY,
    "maximum": Fault.PROPERTY,
    "exclusiveMinimum": Fault.PROPERTY,
    "exclusiveMaximum": Fault.PROPERTY,
    "multipleOf": Fault.PROPERTY,
    "required": Fault.OCCURRENCE,
    "minItems": Fault.OCCURRENCE,
    "maxItems": Fault.OCCURRENCE,
    "additionalProperties": Fault.BAD_PAYLOAD,
}
_REQUEST, _RESPONSE = "request", "response"


@dataclass(frozen=True, slots=True)
class Problem:
    fault: Fault
    description: str


@dataclass(frozen=True, slots=True)
class _Check:
    validator: Any
    decimals: bool  # the payload must be read with decimals first
    quick: Callable[[Any], object]  # returns: valid for ``validator`` too (raises: it decides)


class Schemas:
    """The request and response schemas of one OCPP version."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._folder = resources.files("ocpp") / ("v" + dialect.version.replace(".", ""))
        self._names = self._schema_names()
        self._checks: dict[tuple[str, str], _Check] = {}

    def _schema_names(self) -> frozenset[str]:
        return frozenset(
            entry.name.removesuffix(".json")
            for entry in (self._folder / "schemas").iterdir()
            if entry.name.endswith(".json")
        )

    def _file_name(self, action: str, side: str) -> str | None:
        """The schema file's name, None when the version has none for ``action``."""
        if action.endswith(("Request", "Response")):
            return None  # a file name, not an action (no action ends so)
        if side == _RESPONSE:
            name = f"{action}Response"
        elif self.dialect.version == "1.6":
            name = action  # 1.6 names a request schema after its action
        else:  # later versions add "Request"; a 2.1 SEND (no response) has its action alone
            name = f"{action}Request" if f"{action}Request" in self._names else action
        return name if name in self._names else None

    def knows(self, action: str) -> bool:
        """Whether the version defines ``action`` (as a request, either way)."""
        return self._file_name(action, _REQUEST) is not None

    def request_problem(self, action: str, payload: dict[str, Any]) -> Problem | None:
        """None when ``payload`` is a valid request of ``action``."""
        return self._problem(action, _REQUEST, payload)

    def response_problem(self, action: str, payload: dict[str, Any]) -> Problem | None:
        """None when ``payload`` is a valid answer to ``action``."""
        return self._problem(action, _RESPONSE, payload)

    def _problem(self, action: str, side: str, payload: dict[str, Any]) -> Problem | None:
        check = self._check(action, side)
        if check is None:
            return Problem(Fault.NOT_IMPLEMENTED, f"no {side} schema for {action!r}")
        # Refused, or a value it cannot compare (a Decimal NaN): the official validator decides.
        with contextlib.suppress(Exception):
            check.quick(payload)
            return None
        if check.decimals:
            payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
        if check.validator.is_valid(payload):
            return None
        error: ValidationError = next(iter(check.validator.iter_errors(payload)))
        where = "/".join(str(p) for p in error.absolute_path) or "payload"
        fault = _FAULTS.get(str(error.validator), Fault.BAD_PAYLOAD)
        return Problem(fault, f"{where}: {error.message}"[:255])

    def _check(self, action: str, side: str) -> _Check | None:
        found = self._checks.get((action, side))
        if found is not None:
            return found
        name = self._file_name(action, side)
        if name is None:  # only names listed in the folder: a peer's action is no path
            return None
        # The 2.x files start with a byte order mark.
        text = (self._folder / "schemas" / f"{name}.json").read_text(encoding="utf-8-sig")
        decimals = '"multipleOf"' in text
        schema = json.loads(text, parse_float=decimal.Decimal if decimals else float)
        cls = validators.validator_for(schema, default=validators.Draft4Validator)
        flat = inline_definitions(schema)
        found = _Check(cls(flat), decimals, compile_quick(text))
        self._checks[(action, side)] = found
        return found


def inline_definitions(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each ``{"$ref": "#/definitions/X"}`` replaced by definition X itself.
    The same checks: the validator then walks plain subschemas instead of resolving a
    reference at every step, which took about half of checking a TransactionEvent. A
    definition that refers to itself (no OCPP schema has one) keeps its reference, so the
    definitions stay at the root for it."""
    definitions = schema.get("definitions", {})

    def walk(node: Any, inside: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, inside) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = ref.removeprefix(_LOCAL) if isinstance(ref, str) and ref.startswith(_LOCAL) else ""
        if name in definitions and name not in inside:
            return walk(definitions[name], (*inside, name))
        return {key: walk(value, inside) for key, value in node.items()}

    return {key: walk(value, ()) if key != "definitions" else value
            for key, value in schema.items()}  # fmt: skip


def compile_quick(text: str) -> Callable[[Any], object]:
    """The schema in ``text`` compiled by ``fastjsonschema``: returns for a payload that
    ``jsonschema`` accepts, raises for any other (and may for some it accepts). Its
    references are inlined as for ``jsonschema``; numbers are read as floats (see above).
    No defaults: ``fastjsonschema`` would write them into the payload."""
    schema = inline_definitions(json.loads(text))
    schema.setdefault("$schema", _DRAFT_4)  # the default of ``jsonschema`` here, not draft 7
    return fastjsonschema.compile(schema, use_default=False, use_formats=False)


_DRAFT_4 = "http://json-schema.org/draft-04/schema#"
_LOCAL = "#/definitions/"
_SHARED: dict[str, Schemas] = {}


def schemas_for(dialect: Dialect) -> Schemas:
    """The one ``Schemas`` of the dialect's version in this process."""
    found = _SHARED.get(dialect.version)
    if found is None:
        found = _SHARED[dialect.version] = Schemas(dialect)
    return found
