"""The OCA pricing extension's DataTransfer messages: one data file per case (costmsg/<case>),
what is kept from each, and every refusal with its reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_controller.uplink.v16.costmsg import TransactionCost, UserPrice, parse

CASES = sorted((Path(__file__).parent / "costmsg").glob("*.json"))


def _data(case: dict[str, Any]) -> Any:
    if "data_repeat" in case:
        return "x" * int(case["data_repeat"])
    data = case["data"]
    return data if isinstance(data, str) else json.dumps(data)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    if "refused" in case:
        with pytest.raises(ValueError, match=case["refused"]):
            parse(case["message_id"], _data(case))
        return
    found = parse(case["message_id"], _data(case))
    expect = case["expect"]
    if isinstance(found, UserPrice):
        assert {"id_tag": found.id_tag, "text": found.text} == expect
        return
    assert isinstance(found, TransactionCost)
    shown = found.cost.shown() | {"transaction_id": found.transaction_id}
    for key, value in expect.items():
        assert shown[key] == value, key
    trigger = found.trigger
    if "expect_trigger" in case:
        assert trigger is not None
        assert {"at_s": trigger.at_s, "at_energy_wh": str(trigger.at_energy_wh),
                "at_power_w": str(trigger.at_power_w),
                "at_statuses": sorted(trigger.at_statuses)} == case["expect_trigger"]  # fmt: skip
    period = found.next_period
    if "expect_next_period" in case:
        assert period is not None
        assert {"at_s": period.at_s, "price_text": period.price_text} == case["expect_next_period"]
