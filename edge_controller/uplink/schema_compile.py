"""A quick yes to a schema check: a schema turned once into plain Python checks.

``jsonschema`` walks a schema anew for every payload, building a validator object at each level;
for the small, flat OCPP messages of a backlog that walk was the largest part of our CPU per
message. ``compile_check`` turns a schema into nested closures that answer only "valid" or "not
sure": True means the official validator accepts the payload too; False means nothing, the
official validator decides (and names the fault). So a check may be stricter than the schema
(a float where an integer is asked for, a subclass of a JSON type) but never laxer, and a
schema with a keyword it does not know exactly is not compiled at all (None).

Covered: the draft 4 and 6 keywords the OCPP files use: ``type``, ``properties``, ``required``,
``additionalProperties``, ``items`` (one schema), ``minItems``/``maxItems``,
``minLength``/``maxLength``, ``minimum``/``maximum``, ``enum`` of strings, and ``format``, which
the official validator does not check either (it is built without a format checker).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

Check = Callable[[Any], bool]

# Keywords that check nothing (annotations); any keyword outside these and the ones compiled
# below leaves the schema to the official validator.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "id", "title", "description", "comment", "$comment", "javaType",
     "default", "definitions", "format", "additionalItems"}
)  # fmt: skip
# additionalItems only applies next to a list of ``items``, which is not compiled.
_COMPILED = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
     "minLength", "maxLength", "minimum", "maximum", "enum"}
)  # fmt: skip


class _NotCompiled(Exception):
    pass


def compile_check(schema: dict[str, Any]) -> Check | None:
    """A check that says True only of payloads the official validator accepts; None when the
    schema uses something not covered (references, ``multipleOf``, ...)."""
    try:
        return _node(schema)
    except _NotCompiled:
        return None


def _is_number(value: Any) -> bool:
    """A number to the official validator, as the renderings hold them (a reading's value is
    a ``Decimal``, written as a JSON number); a Decimal NaN or infinity is left to it."""
    kind = type(value)
    return kind is int or kind is float or (kind is Decimal and value.is_finite())


_PLAIN = frozenset({dict, list, str, int, float, Decimal, bool, type(None)})


def _other_plain(value: Any, kind: type) -> bool:
    """``value`` is a plain JSON value not of ``kind``: a keyword for ``kind`` does not apply
    to it. Anything else (a subclass) is left to the official validator."""
    return type(value) is not kind and type(value) in _PLAIN


_TYPES: dict[str, Check] = {
    # Exact types: a bool is no integer; a float with an integer's value, or a Decimal, is left
    # to the official validator.
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,
    "number": _is_number,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
}


def _node(schema: Any) -> Check:
    if not isinstance(schema, dict):
        raise _NotCompiled
    unknown = set(schema) - _ANNOTATIONS - _COMPILED
    if unknown:
        raise _NotCompiled
    checks = [
        *_type(schema.get("type")),
        *_object(schema),
        *_array(schema),
        *_string(schema),
        *_number(schema),
    ]
    if not checks:
        return lambda _value: True
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


def _type(declared: Any) -> list[Check]:
    if declared is None:
        return []
    names = declared if isinstance(declared, list) else [declared]
    if not names or any(not isinstance(n, str) or n not in _TYPES for n in names):
        raise _NotCompiled
    if len(names) == 1:
        return [_TYPES[names[0]]]
    options = [_TYPES[n] for n in names]
    return [lambda value: any(option(value) for option in options)]


def _object(schema: dict[str, Any]) -> list[Check]:
    """``properties``, ``required``, ``additionalProperties``: on dicts only, as the official
    validator applies them."""
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    extra = schema.get("additionalProperties", True)
    if not isinstance(properties, dict) or not isinstance(required, list):
        raise _NotCompiled
    if not isinstance(extra, bool) or any(not isinstance(name, str) for name in required):
        raise _NotCompiled  # a schema for additional members: not used by OCPP
    if not properties and not required and extra:
        return []
    members = {name: _node(sub) for name, sub in properties.items()}
    needed = tuple(required)

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return _other_plain(value, dict)
        for name in needed:
            if name not in value:
                return False
        for name, member_value in value.items():
            member = members.get(name)
            if member is None:
                if not extra:
                    return False
            elif not member(member_value):
                return False
        return True

    return [check]


def _array(schema: dict[str, Any]) -> list[Check]:
    items = schema.get("items")
    least, most = _bound(schema, "minItems"), _bound(schema, "maxItems")
    if items is None and least is None and most is None:
        return []
    each = _node(items) if items is not None else None  # a list of schemas: not compiled

    def check(value: Any) -> bool:
        if type(value) is not list:
            return _other_plain(value, list)
        if (least is not None and len(value) < least) or (most is not None and len(value) > most):
            return False
        return each is None or all(each(item) for item in value)

    return [check]


def _string(schema: dict[str, Any]) -> list[Check]:
    least, most = _bound(schema, "minLength"), _bound(schema, "maxLength")
    enum = schema.get("enum")
    if enum is not None and (not isinstance(enum, list) or
                             any(type(e) is not str for e in enum)):  # fmt: skip
        raise _NotCompiled
    allowed = frozenset(enum) if enum is not None else None
    if least is None and most is None and allowed is None:
        return []

    def check(value: Any) -> bool:
        if allowed is not None and (type(value) is not str or value not in allowed):
            return False  # enum applies to any type; a string enum takes strings only
        if type(value) is not str:
            return _other_plain(value, str)
        return (least is None or len(value) >= least) and (most is None or len(value) <= most)

    return [check]


def _number(schema: dict[str, Any]) -> list[Check]:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is None and high is None:
        return []
    if any(bound is not None and not _is_number(bound) for bound in (low, high)):
        raise _NotCompiled

    def check(value: Any) -> bool:
        if not _is_number(value):
            # A bool is no number to the official validator either; a Decimal that is not
            # finite is left to it.
            return type(value) in _PLAIN and type(value) is not Decimal
        return (low is None or value >= low) and (high is None or value <= high)

    return [check]


def _bound(schema: dict[str, Any], keyword: str) -> int | None:
    bound = schema.get(keyword)
    if bound is not None and type(bound) is not int:
        raise _NotCompiled
    return bound
