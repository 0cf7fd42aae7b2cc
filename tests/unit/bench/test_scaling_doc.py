"""docs/scaling.md's tables and the DB rows paragraph show what bench/results/ holds: the summary
against scale.json, scale_ocpp.json and scale_ocpp_reactions.json, the OCPP tables' rows, the
1,000-connector soak's samples and verdicts, the table's DB rows/s per size and the
1,000-connector window's rows (a paragraph outlived a rerun once, and a summary once quoted a
rate no result file had)."""

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


def _ocpp_rows() -> dict[tuple[str, int], dict[str, Any]]:
    data = json.loads((ROOT / "bench" / "results" / "scale_ocpp.json").read_text(encoding="utf-8"))
    return {(row["topology"], int(row["connectors"])): row for row in data["rows"]}


def _table(title: str) -> list[list[str]]:
    """The rows of the first table after ``title`` (header and rule left out)."""
    lines = DOC[DOC.index(title) :].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _count(cell: str) -> int:
    return int(cell.replace(",", ""))


def _minute(stamp: str) -> str:
    return stamp[:16].replace("T", " ")  # "2026-12-05T12:29:53Z" -> "2026-12-05 12:29"


TOPOLOGY = {"identity per charger": "per_charger", "one station": "site"}


def test_the_summary_table_shows_the_rows_of_both_benches() -> None:
    shown = _table("## In short")
    assert len(shown) == len(_rows()) + len(_ocpp_rows())
    for connectors, ocpp, cpu, rss, p99, measured in shown:
        if ocpp == "off":
            row = _rows()[_count(connectors)]
            assert (cpu, p99) == (str(row["cpu_share_of_core"]), f"{row['reaction_p99_ms']} ms")
            assert rss == f"{row['rss_mb']} MB"
        else:
            row = _ocpp_rows()[(TOPOLOGY[ocpp], _count(connectors))]
            assert (cpu, p99) == (str(row["daemon_cpu_share_of_core"]), _ocpp_p99(row))
            steady = (
                f"; {row['rss_steady_mb']} MB at steady state" if "rss_steady_mb" in row else ""
            )
            assert rss == f"{row['daemon_rss_mb']} MB{steady}"
        assert measured == _minute(row["measured_at"]), (connectors, ocpp)


def test_the_ocpp_table_shows_the_bench_s_rows() -> None:
    shown = _table("### With OCPP")
    assert len(shown) == len(_ocpp_rows())
    for cells in shown:
        row = _ocpp_rows()[(cells[0], _count(cells[1]))]
        assert _count(cells[2]) == row["websockets"]
        assert cells[3] == f"{row['connect_all_s']} s"
        assert cells[4] == str(row["daemon_cpu_share_of_core"])
        assert cells[5].startswith(f"{row['daemon_rss_mb']} MB")
        assert _count(cells[6]) == row["daemon_open_fds"]
        assert cells[7] == f"{row['ocpp_in_per_s']} / {row['ocpp_out_per_s']}"
        assert (cells[8], cells[9]) == (
            str(row["csms_cpu_share_of_core"]),
            f"{row['csms_rss_mb']} MB",
        )
        assert _count(cells[10]) == row["outage_messages"]
        assert cells[11] == f"{row['reconnect_all_s']} s"
        assert cells[12] == f"{row['drain_s']} s ({row['backlog_at_reconnect']:,} left)"
        assert cells[13] == str(row["drain_per_s"])
        daemon, csms = (
            row["replay_daemon_cpu_ms_per_message"],
            row["replay_csms_cpu_ms_per_message"],
        )
        assert cells[14] == f"{daemon} / {csms} ms"
        assert cells[15] == _minute(row["measured_at"])


def _reaction_rows() -> dict[tuple[str, int], dict[str, Any]]:
    path = ROOT / "bench" / "results" / "scale_ocpp_reactions.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return {(row["topology"], int(row["connectors"])): row for row in data["rows"]}


def _ocpp_p99(row: dict[str, Any]) -> str:
    """An OCPP row's reaction p99 in the summary, from the reaction runs (their own time):
    steady, and while a backlog drains."""
    timed = _reaction_rows().get((row["topology"], int(row["connectors"])))
    if timed is None or timed.get("reaction_p99_ms") is None:
        return "not timed"
    shown = f"{timed['reaction_p99_ms']} ms"
    if timed.get("reaction_replay_p99_ms") is not None:
        shown += f"; {timed['reaction_replay_p99_ms']} ms in a replay"
    return f"{shown} ({_minute(timed['measured_at'])} run)"


def test_the_ocpp_reaction_table_shows_the_reaction_runs() -> None:
    shown = _table("### Reactions with OCPP on")
    assert len(shown) == len(_reaction_rows())
    for cells in shown:
        row = _reaction_rows()[(cells[0], _count(cells[1]))]
        assert cells[2] == _timed(row, "reaction", "reactions")
        assert cells[3] == f"{row['reaction_waited_p99_ms']} ms"
        assert cells[4] == _timed(row, "reaction_replay", "reactions_replay")
        assert cells[5] == str(row["daemon_cpu_share_of_core"])
        assert cells[6] == f"{row['load_average_1min']} / {row['load_after_steps_1min']}"
        assert cells[7] == _minute(row["measured_at"])


def _timed(row: dict[str, Any], name: str, plural: str) -> str:
    """ "p50 / p99 ms (how many timed)", as the OCPP table shows reactions."""
    if row.get(f"{name}_p99_ms") is None:
        return "not timed"
    return f"{row[f'{name}_p50_ms']} / {row[f'{name}_p99_ms']} ms ({row[f'{plural}_timed']})"


SOAK_FIGURES = {
    "RSS": ("rss_mb", " MB"),
    "open files": ("open_fds", ""),
    "outbox backlog": ("outbox_backlog", ""),
    "database bytes per row": ("db_bytes_per_row", ""),
}


def test_the_1000_connector_soak_table_shows_the_soak_s_samples_and_verdicts() -> None:
    soak = json.loads((ROOT / "bench" / "results" / "soak-1000.json").read_text(encoding="utf-8"))
    samples = soak["samples"]

    def at(minute: int) -> dict[str, Any]:
        return min(samples, key=lambda s: abs(s["t_s"] - 60 * minute))

    shown = _table("### An hour at 1,000 connectors")
    assert [cells[0] for cells in shown] == list(SOAK_FIGURES)
    for name, *values, growth, verdict in shown:
        key, unit = SOAK_FIGURES[name]
        expected = [f"{at(minute)[key]:,}{unit}" for minute in (0, 10, 20, 30, 60)]
        assert values == expected, name
        found = soak["verdicts"][key]
        assert growth == f"{found['second_half_growth']:+,}{unit}", name
        assert verdict == ("flat" if found["flat"] else "grows"), name


def _multigateway() -> dict[str, Any]:
    path = ROOT / "bench" / "results" / "multigateway.json"
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    (trip,) = [row for row in rows if row["metric"] == "budget_round_trip_ms"]
    return dict(trip)


def test_the_budget_round_trip_is_quoted_as_the_bench_measured_it() -> None:
    # The paragraph quoted an earlier run's 88.7 ms p99 over 124 lowerings after a rerun.
    trip = _multigateway()
    quoted = (
        f"{trip['p50_ms']} ms\n(p50), {trip['p99_ms']} ms (p99) and {trip['max_ms']} ms at most"
        f" over {trip['samples']} lowerings"
    )
    assert quoted in DOC
    first = f"first setpoint written after {trip['first_write_p50_ms']} ms,\np99 "
    assert first + f"{trip['first_write_p99_ms']} ms" in DOC
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert (
        f"{trip['p50_ms']} ms (p50), {trip['p99_ms']} ms (p99) and {trip['max_ms']} ms at most"
        f" over {trip['samples']} lowerings" in readme
    )


def test_the_1000_row_s_share_of_the_grid_before_the_steps_is_called_the_least() -> None:
    share = _rows()[1000]["grid_used_share_at_steps"]
    assert f"at least {share * 100:.1f} % of\nit before each step" in DOC
