"""The 2.x names the renderer writes are the ones the official schemas allow, for every value
of the domain's enums (a new stop reason or token type without a 2.x name fails here)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions.events import Quantity, ReadingContext, TokenType
from edge_controller.uplink.v201 import render


def _definitions(version: str) -> dict[str, Any]:
    folder = resources.files("ocpp") / f"v{version.replace('.', '')}" / "schemas"
    text = (folder / "TransactionEventRequest.json").read_text(encoding="utf-8-sig")
    definitions: dict[str, Any] = json.loads(text)["definitions"]
    return definitions


def _enum(definitions: dict[str, Any], name: str) -> set[str]:
    return set(definitions[name]["enum"])


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_every_domain_value_has_a_name_the_schema_allows(version: str) -> None:
    d = _definitions(version)
    reasons = {stopped for stopped, _ in (render.STOPS[r] for r in StopReason)}
    triggers = {trigger for _, trigger in (render.STOPS[r] for r in StopReason)}
    if version == "2.0.1":
        triggers = {render.TRIGGERS_201.get(t, t) for t in triggers}
    assert reasons <= _enum(d, "ReasonEnumType")
    assert triggers | set(render.SAMPLE_TRIGGERS.values()) <= _enum(d, "TriggerReasonEnumType")
    if "IdTokenEnumType" in d:  # 2.1 names token types in free text
        assert {render.TOKEN_TYPES[t] for t in TokenType} <= _enum(d, "IdTokenEnumType")
    assert {render.CONTEXTS[c] for c in ReadingContext} <= _enum(d, "ReadingContextEnumType")
    measurands = {render.MEASURANDS[q][0] for q in Quantity}
    assert measurands <= _enum(d, "MeasurandEnumType")


def test_transaction_ids_name_their_session() -> None:
    text = render.transaction_id(17, 1_796_337_177_004)
    assert len(text) <= 36 and render.session_of(text) == 17
    assert render.session_of("17") is None and render.session_of("x-1") is None
