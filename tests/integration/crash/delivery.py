"""What the CSMS received, against what the database recorded: duplicates, lost sessions, lost
Wh, and MeterValues outside their transaction. Read from the CSMS's message log (one JSON line
per CALL received, with its unique id) and the database, with plain sqlite3."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_controller.uplink.clock import from_iso
from edge_controller.uplink.clock import to_iso as iso_utc
from tests.integration.crash import schedule

TRANSACTION_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction")


@dataclass
class Delivery:
    sessions: int = 0  # closed in the database
    calls: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)  # CALLs received again, by action
    resent_differently: int = 0  # a unique id seen again with another payload
    lost_sessions: int = 0  # closed here, not stopped at the CSMS as recorded
    recorded_wh: int = 0
    billed_wh: int = 0
    lost_wh: int = 0
    meter_values_outside: int = 0  # MeterValues timestamped outside [start, stop]
    power_loss_sessions: int = 0
    seq_no_gaps: int = 0  # OCPP 2.x: transactions whose seqNos are not 0..n-1
    # OCPP 2.x: transactions without exactly one Started and one Ended.
    not_one_start_and_end: int = 0
    plug_transactions: int = 0  # 2.x TxStartPoint EVConnected: begun at a plug-in
    plugs_unjoined: int = 0  # of those, ended with no session (the EV left unauthorised...)
    # 2.x TxStartPoint Authorized: begun at a card before the plug-in (with or without session)
    card_first: int = 0
    # 2.x TxStopPoint EVConnected alone: sessions whose transaction went on after them
    after_session: int = 0

    @property
    def duplicate_count(self) -> int:
        return sum(self.duplicates.values())

    def report(self) -> dict[str, Any]:
        return asdict(self) | {"duplicate_count": self.duplicate_count}


def _csms_calls(log: Path, actions: tuple[str, ...] = TRANSACTION_ACTIONS) -> list[dict[str, Any]]:
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [c for c in map(json.loads, lines) if c["action"] in actions]


def _count_duplicates(calls: list[dict[str, Any]], out: Delivery) -> list[dict[str, Any]]:
    """Counts repeats (a CALL whose action and payload came before) and repeats that are not
    byte-identical (another unique id, or a unique id reused for other content); returns the
    CALLs without repeats."""
    ids_by_content: dict[str, Any] = {}
    content_by_id: dict[Any, str] = {}
    duplicates: Counter[str] = Counter()
    first: list[dict[str, Any]] = []
    for c in calls:
        content = json.dumps([c["action"], c["payload"]], sort_keys=True)
        unique_id = c.get("uniqueId")
        if unique_id is not None:
            out.resent_differently += content_by_id.setdefault(unique_id, content) != content
        if content in ids_by_content:
            duplicates[c["action"]] += 1
            out.resent_differently += unique_id is None or ids_by_content[content] != unique_id
            continue
        ids_by_content[content] = unique_id
        first.append(c)
    out.duplicates = dict(duplicates)
    return first


def check_delivery(db_path: Path, csms_log: Path) -> Delivery:
    """Every closed session billed once at the CSMS as recorded; counts for the report."""
    out = Delivery()
    calls = _csms_calls(csms_log)
    out.calls = dict(Counter(c["action"] for c in calls))
    # The bench CSMS numbers every StartTransaction it handles, repeats included, from 1.
    handled = (c["payload"] for c in calls if c["action"] == "StartTransaction")
    starts = dict(enumerate(handled, start=1))
    unique = _count_duplicates(calls, out)
    stops = {c["payload"]["transactionId"]: c["payload"] for c in unique
             if c["action"] == "StopTransaction"}  # fmt: skip
    values: dict[int, list[float]] = {}
    for c in unique:
        if c["action"] == "MeterValues" and "transactionId" in c["payload"]:
            stamps = [from_iso(v["timestamp"]) for v in c["payload"]["meterValue"]]
            values.setdefault(c["payload"]["transactionId"], []).extend(stamps)
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT s.*, t.remote_transaction_id AS remote FROM sessions s LEFT JOIN"
            " transaction_ids t ON t.session_local_id = s.local_id WHERE s.stop_at_s IS NOT NULL"
        ).fetchall()
    finally:
        conn.close()
    for s in rows:
        _check_session(s, starts, stops, values.get(s["remote"], []), out)
    return out


def _check_session(
    s: sqlite3.Row,
    starts: dict[int, dict[str, Any]],
    stops: dict[int, dict[str, Any]],
    stamps: list[float],
    out: Delivery,
) -> None:
    out.sessions += 1
    out.power_loss_sessions += s["stop_reason"] == "PowerLoss"
    recorded_wh = s["meter_stop_wh"] - s["meter_start_wh"]
    out.recorded_wh += recorded_wh
    start, stop = starts.get(s["remote"]), stops.get(s["remote"])
    number = schedule.CONNECTORS.index(s["connector_id"]) + 1
    expected_start = {
        "connectorId": number,
        "idTag": s["id_tag"],
        "meterStart": s["meter_start_wh"],
        "timestamp": iso_utc(s["start_at_s"]),
    }
    if start is None or stop is None or {k: start.get(k) for k in expected_start} != expected_start:
        out.lost_sessions += 1
        out.lost_wh += recorded_wh
        return
    assert stop["timestamp"] == iso_utc(s["stop_at_s"]), (dict(s), stop)
    billed_wh = stop["meterStop"] - start["meterStart"]
    out.billed_wh += billed_wh
    out.lost_wh += recorded_wh - billed_wh
    out.meter_values_outside += sum(
        1 for at_s in stamps if not s["start_at_s"] <= at_s <= s["stop_at_s"]
    )
