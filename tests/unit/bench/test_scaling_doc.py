"""docs/scaling.md's one-gateway database figures are those of bench/results/scale.json: the
table's DB rows/s per size, and the DB rows paragraph's count of the 1,000-connector window,
rows per second and the rows it is made of (a paragraph outlived a rerun once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[3]
DOC = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")


def _rows() -> dict[int, dict[str, Any]]:
    data = json.loads((ROOT / "bench" / "results" / "scale.json").read_text(encoding="utf-8"))
    return {int(row["connectors"]): row for row in data["rows"]}


def _section(title: str) -> str:
    start = DOC.index(title)
    return DOC[start : DOC.index("\n### ", start + 1)]


def test_the_table_shows_the_bench_s_db_rows_per_second() -> None:
    table = _section("### Without OCPP")
    shown = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 6 and cells[0].replace(",", "").isdigit():
            shown[int(cells[0].replace(",", ""))] = float(cells[6])
    assert shown == {size: row["db_rows_per_s"] for size, row in _rows().items()}


def test_the_db_rows_paragraph_counts_the_1000_connector_window() -> None:
    paragraph = _section("### Without OCPP").split("- **DB rows:**", 1)[1]
    paragraph = " ".join(paragraph.split("\n- ", 1)[0].split())
    row = _rows()[1000]
    written = row["db_rows_in_window"]
    total = sum(n for table, n in written.items() if ":" not in table)
    assert f"window's {total:,} rows, {row['db_rows_per_s']} a second" in paragraph
    for name, count in written.items():  # "572 `meter_values`", "557 `periodic`"
        assert f"{count:,} `{name.rsplit(':', 1)[-1]}`" in paragraph, name
    assert f"{row['open_sessions']:,} open sessions" in paragraph
