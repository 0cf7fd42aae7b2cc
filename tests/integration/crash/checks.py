"""Invariants of a database the crash test produced, read with plain sqlite3."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import Counter
from datetime import UTC
from pathlib import Path
from typing import Any

from edge_controller.domain.pricing import cost
from edge_controller.domain.pricing.codec import tariff_from_json
from edge_controller.domain.pricing.recorded import Reading, recorded_timeline
from tests.integration.crash import schedule


def _rows(conn: sqlite3.Connection, sql: str, *params: Any) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()


def check_database(path: Path) -> dict[str, int]:
    """Assert every invariant; returns counts for the test to check progress with."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        assert _rows(conn, "PRAGMA integrity_check")[0][0] == "ok"
        sessions = _rows(conn, "SELECT * FROM sessions ORDER BY local_id")
        outbox = _rows(conn, "SELECT * FROM outbox ORDER BY seq")
        for s in sessions:
            _check_session(conn, s)
            _check_cost(conn, s)
        _check_no_overlap(sessions)
        _check_outbox(conn, sessions, outbox)
        reasons = Counter(str(s["stop_reason"]) for s in sessions)
        return {"sessions": len(sessions), "messages": len(outbox), **reasons}
    finally:
        conn.close()


def _check_session(conn: sqlite3.Connection, s: sqlite3.Row) -> None:
    index = schedule.CONNECTORS.index(s["connector_id"])
    assert s["meter_start_wh"] == schedule.energy_wh(index, s["start_at_s"]), dict(s)
    values = _rows(
        conn, "SELECT * FROM meter_values WHERE session_local_id = ? ORDER BY id", s["local_id"]
    )
    energies = [v["energy_wh"] for v in values]
    assert energies == sorted(energies), f"meter values go backwards in {dict(s)}"
    assert values[0]["context"] == "begin"
    for v in values:
        if v["context"] != "end":
            assert v["energy_wh"] == schedule.energy_wh(index, v["at_s"]), dict(v)
    if s["stop_at_s"] is None:
        assert values[-1]["context"] != "end"
        return
    assert values[-1]["context"] == "end" and energies[-1] == s["meter_stop_wh"]
    assert [v["context"] for v in values].count("end") == 1
    if s["stop_reason"] == "PowerLoss":
        assert s["meter_stop_wh"] == energies[-2], "power loss must keep the last known value"
        assert s["stop_at_s"] == values[-2]["at_s"], "and stop at the last known time"
    else:
        assert s["meter_stop_wh"] == schedule.energy_wh(index, s["stop_at_s"]), dict(s)


def _check_cost(conn: sqlite3.Connection, s: sqlite3.Row) -> None:
    """A stopped session is priced once, by its tariff, from its registers as stored."""
    costs = _rows(conn, "SELECT * FROM session_costs WHERE session_local_id = ?", s["local_id"])
    if s["stop_at_s"] is None:
        assert costs == [], f"a running session has a final cost: {dict(s)}"
        return
    assert (s["tariff_id"], s["tariff_version"], s["tariff_source"]) == ("crash", 1, "config")
    assert len(costs) == 1, f"session {s['local_id']} priced {len(costs)} times"
    values = _rows(
        conn, "SELECT * FROM meter_values WHERE session_local_id = ? ORDER BY id", s["local_id"]
    )
    readings = [Reading(v["at_s"], v["energy_wh"], v["power_w"]) for v in values]
    line = recorded_timeline(
        s["start_at_s"], s["stop_at_s"], readings,
        stop_register_known=s["stop_reason"] != "PowerLoss",
    )  # fmt: skip
    tariff = _rows(conn, "SELECT body FROM tariffs WHERE tariff_id = 'crash' AND version = 1")
    expected = cost(tariff_from_json(json.loads(tariff[0]["body"])), line, UTC)
    assert costs[0]["total_incl_tax_minor"] == expected.total_incl_tax.minor, dict(s)
    assert costs[0]["total_excl_tax_minor"] == expected.total_excl_tax.minor, dict(s)
    flagged = json.loads(costs[0]["breakdown"])["stop_register_unknown"]
    assert flagged == (s["stop_reason"] == "PowerLoss"), dict(s)


def _check_no_overlap(sessions: list[sqlite3.Row]) -> None:
    by_connector: dict[str, list[sqlite3.Row]] = {}
    for s in sessions:
        by_connector.setdefault(s["connector_id"], []).append(s)
    for rows in by_connector.values():
        assert sum(1 for r in rows if r["stop_at_s"] is None) <= 1
        for before, after in itertools.pairwise(rows):
            assert before["stop_at_s"] is not None
            assert after["start_at_s"] >= before["stop_at_s"], "two sessions at once"
            assert after["meter_start_wh"] >= before["meter_stop_wh"], "register went back"


def _check_outbox(
    conn: sqlite3.Connection, sessions: list[sqlite3.Row], outbox: list[sqlite3.Row]
) -> None:
    # A power-loss stop is dated back to the last known moment; everything else is queued in
    # the order it happened. Security events (each life's StartupOfTheDevice on 2.x) are the
    # uplink's, timed by its clock, not the sessions' simulated one.
    outbox = [m for m in outbox if m["event"] != "security_event"]
    lost = {s["local_id"] for s in sessions if s["stop_reason"] == "PowerLoss"}
    dated_back = [m["event"] == "session_ended" and m["session_local_id"] in lost
                  for m in outbox]  # fmt: skip
    created = [m["created_at_s"] for m, back in zip(outbox, dated_back, strict=True) if not back]
    assert created == sorted(created), "outbox order differs from event order"
    per_session: dict[int, list[sqlite3.Row]] = {}
    for m in outbox:
        per_session.setdefault(m["session_local_id"], []).append(m)
    rows = conn.execute("SELECT local_id, closed_at_s FROM plug_transactions").fetchall()
    plugs = {local_id: closed_at_s for local_id, closed_at_s in rows}
    for s in sessions:
        messages = per_session.pop(s["local_id"], [])
        if messages and messages[0]["event"] in ("ev_connected", "authorized_first"):
            messages = messages[1:]  # the session joined the transaction begun before it
        if messages and messages[-1]["event"] == "ev_wait_ended":
            # Its transaction went on after it and ended later, with the session's registers.
            assert plugs.pop(s["local_id"]) is not None, dict(s)
            registers = json.loads(messages[-1]["body"])["session"]
            assert (registers["start_wh"], registers["stop_wh"]) == (
                s["meter_start_wh"], s["meter_stop_wh"],
            )  # fmt: skip
            messages = messages[:-1]
        plugs.pop(s["local_id"], None)  # joined, or still going on after it
        events = [m["event"] for m in messages]
        samples = _rows(
            conn,
            "SELECT energy_wh FROM meter_values WHERE session_local_id = ?"
            " AND context IN ('periodic', 'clock_aligned') ORDER BY id",
            s["local_id"],
        )
        closed = s["stop_at_s"] is not None
        expected = ["session_started"] + ["meter_sampled"] * len(samples)
        assert events == expected + (["session_ended"] if closed else []), (dict(s), events)
        start = json.loads(messages[0]["body"])
        assert start["start_register_wh"] == s["meter_start_wh"]
        sent = [json.loads(m["body"])["readings"][0]["value"]
                for m in messages if m["event"] == "meter_sampled"]  # fmt: skip
        assert sent == [str(r["energy_wh"]) for r in samples]
        if closed:
            assert json.loads(messages[-1]["body"])["stop_register_wh"] == s["meter_stop_wh"]
    for local_id, messages in list(per_session.items()):
        if local_id in plugs:  # a transaction no session joined: its start, its end
            ended = [] if plugs.pop(local_id) is None else ["ev_wait_ended"]
            started = messages[0]["event"] if messages else ""
            assert started in ("ev_connected", "authorized_first"), messages
            assert [m["event"] for m in messages] == [started, *ended], messages
            del per_session[local_id]
    assert not per_session, f"messages of unknown sessions: {list(per_session)}"


def check_events(path: Path, events: list[str]) -> int:
    """Everything a child announced must be in the database as announced."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    checked = 0
    try:
        for line in events:
            kind, local_id, *rest = line.split()
            row = conn.execute("SELECT * FROM sessions WHERE local_id = ?", (int(local_id),))
            session = row.fetchone()
            assert session is not None, f"announced but not recorded: {line}"
            if kind == "started":
                assert session["meter_start_wh"] == int(rest[0])
            elif kind == "stopped":
                assert (
                    session["meter_stop_wh"] == int(rest[0]) and session["stop_reason"] == rest[1]
                )
            checked += 1
    finally:
        conn.close()
    return checked
