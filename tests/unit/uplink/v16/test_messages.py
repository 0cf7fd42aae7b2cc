"""The 1.6 request and answer classes ``ocpp_compat`` makes from the schemas take the members,
and convert the keys, as the ``ocpp`` package's own classes and conversions do: handlers are
called with its keyword names, and requests are written with its payload keys."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from typing import Any

import pytest
from ocpp.charge_point import (  # type: ignore[import-untyped]
    camel_to_snake_case,
    snake_to_camel_case,
)
from ocpp.v16 import call as package_call  # type: ignore[import-untyped]
from ocpp.v16 import call_result as package_call_result
from ocpp.v16.enums import Action as PackageAction  # type: ignore[import-untyped]

from edge_controller.uplink import ocpp_compat

SCHEMAS = resources.files("ocpp") / "v16" / "schemas"
NAMES = sorted(e.name.removesuffix(".json") for e in SCHEMAS.iterdir() if e.name.endswith(".json"))


def _keys(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        found.update(node.get("properties", {}))
        for value in node.values():
            _keys(value, found)
    elif isinstance(node, list):
        for value in node:
            _keys(value, found)
    return found


def test_every_member_name_of_every_schema_converts_as_the_package_converts() -> None:
    keys: set[str] = set()
    for name in NAMES:
        _keys(json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8")), keys)
    assert len(keys) > 90
    payload = {key: [{key: 1}] for key in keys}
    snaked = ocpp_compat.snake(payload)
    assert snaked == camel_to_snake_case(payload)
    assert ocpp_compat.camel(snaked) == snake_to_camel_case(snaked) == payload


@pytest.mark.parametrize("name", NAMES)
def test_a_class_has_the_members_of_the_packages_class(name: str) -> None:
    action = name.removesuffix("Response")
    ours, package = (
        (ocpp_compat.call_result, package_call_result)
        if name.endswith("Response")
        else (ocpp_compat.call, package_call)
    )
    made = getattr(ours, action)
    assert made.__name__ == action
    assert {f.name for f in dataclasses.fields(made)} == {
        f.name for f in dataclasses.fields(getattr(package, action))
    }


def test_optional_members_are_none_and_left_out_of_the_payload() -> None:
    status = ocpp_compat.call.StatusNotification(
        connector_id=1, error_code="NoError", status="Available"
    )
    assert status.info is None
    assert ocpp_compat.payload_of(status) == {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Available",
    }
    answer = ocpp_compat.answer_of("Authorize", {"idTagInfo": {"status": "Accepted"}})
    assert answer.id_tag_info == {"status": "Accepted"}


def test_a_required_member_missing_or_an_unknown_one_is_refused() -> None:
    with pytest.raises(TypeError):
        ocpp_compat.call.Authorize()
    with pytest.raises(TypeError):
        ocpp_compat.call.Authorize(id_tag="A", colour="red")
    with pytest.raises(AttributeError):
        ocpp_compat.call.NoSuchAction  # noqa: B018


def test_the_actions_handled_are_the_packages() -> None:
    for action in ocpp_compat.Action:
        assert PackageAction[action.name].value == action.value
