"""Holding real API answers against the OpenAPI document the daemon serves."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator


def _matches(template: str, concrete: str) -> bool:
    wanted, given = template.split("/"), concrete.split("/")
    return len(wanted) == len(given) and all(
        w == g or (w.startswith("{") and bool(g)) for w, g in zip(wanted, given, strict=True)
    )


def documented_path(doc: dict[str, Any], method: str, concrete: str) -> str:
    """The document's path (below /api/v1) that answers ``method concrete``."""
    concrete = concrete.split("?", 1)[0]
    found = [p for p in doc["paths"] if method in doc["paths"][p] and _matches(p, concrete)]
    # A fixed path ("/site/limit") wins over a template that also matches.
    found.sort(key=lambda p: p.count("{"))
    assert found, f"{method.upper()} {concrete} is not in the OpenAPI document"
    return found[0]


def check_answer(doc: dict[str, Any], method: str, concrete: str, status: int, body: Any) -> None:
    """``body`` is what the document says ``method concrete`` answers with ``status``."""
    path = documented_path(doc, method, concrete)
    responses = doc["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path}: {status} is not documented"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method.upper()} {concrete} {status}: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors[:5]
    )
