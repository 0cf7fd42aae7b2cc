"""When a CSMS's transaction limit ends a session (``domain.sessions.limits``), one case per
file in ``limit_cases/``, named after the case: the ``limit`` (``TransactionLimit`` fields,
amounts as text), the session's ``progress`` (``cost_ahead``: the cost projected to the next
reading, as a fraction's text) and the stop reason ``expect``ed (null: goes on)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.domain.commands import TransactionLimit
from edge_controller.domain.sessions.limits import Progress, limit_reached

CASES = sorted((Path(__file__).parent / "limit_cases").glob("*.yaml"))


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_limit_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    raw = case["limit"]
    limit = TransactionLimit(
        _decimal(raw.get("max_cost")), _decimal(raw.get("max_energy_wh")),
        raw.get("max_time_s"), raw.get("max_soc_pct"),
    )  # fmt: skip
    progress = case["progress"]
    ahead = progress.get("cost_ahead")
    found = limit_reached(
        limit,
        Progress(
            progress["energy_wh"], progress["elapsed_s"], _decimal(progress.get("cost")),
            None if ahead is None else Fraction(str(ahead)),
        ),
    )  # fmt: skip
    assert (None if found is None else found.value) == case["expect"]


def test_there_are_cases() -> None:
    assert len(CASES) >= 10
