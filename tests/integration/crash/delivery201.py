"""What an OCPP 2.x CSMS received (TransactionEvents), against what the database recorded:
duplicates, lost sessions and Wh, samples outside their transaction, and seqNo gaps."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from edge_controller.uplink.clock import from_iso
from edge_controller.uplink.clock import to_iso as iso_utc
from tests.integration.crash import schedule
from tests.integration.crash.delivery import Delivery, _count_duplicates, _csms_calls

REGISTER = "Energy.Active.Import.Register"


def check_delivery_201(db_path: Path, csms_log: Path) -> Delivery:
    """Every closed session billed once at the CSMS as recorded; counts for the report."""
    out = Delivery()
    calls = _csms_calls(csms_log, ("TransactionEvent",))
    out.calls = {"TransactionEvent": len(calls)}
    by_tx: dict[str, list[dict[str, Any]]] = {}
    for c in _count_duplicates(calls, out):
        by_tx.setdefault(c["payload"]["transactionInfo"]["transactionId"], []).append(c["payload"])
    for events in by_tx.values():
        out.seq_no_gaps += sorted(e["seqNo"] for e in events) != list(range(len(events)))
        kinds = [e["eventType"] for e in events]
        out.not_one_start_and_end += (kinds.count("Started"), kinds.count("Ended")) != (1, 1)
        out.plug_transactions += any(e["triggerReason"] == "CablePluggedIn" for e in events)
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT s.*, t.remote_transaction_id AS remote FROM sessions s LEFT JOIN"
            " transaction_ids t ON t.session_local_id = s.local_id WHERE s.stop_at_s IS NOT NULL"
        ).fetchall()
        unjoined = conn.execute(
            "SELECT p.local_id, t.remote_transaction_id AS remote FROM plug_transactions p"
            " LEFT JOIN transaction_ids t ON t.session_local_id = p.local_id"
            " WHERE p.local_id NOT IN (SELECT local_id FROM sessions)"
        ).fetchall()
    finally:
        conn.close()
    for s in rows:
        _check_session(s, by_tx.get(f"{s['local_id']}-{s['remote']}", []), out)
    for p in unjoined:
        _check_unjoined(by_tx.get(f"{p['local_id']}-{p['remote']}", []), out)
    return out


def _check_unjoined(events: list[dict[str, Any]], out: Delivery) -> None:
    """A plug-in's transaction no session joined: Started and Ended, no token, no energy."""
    out.plugs_unjoined += 1
    kinds = [(e["eventType"], e["triggerReason"]) for e in sorted(events, key=lambda e: e["seqNo"])]
    plain = all("idToken" not in e and "meterValue" not in e for e in events)
    if len(kinds) != 2 or kinds[0] != ("Started", "CablePluggedIn") or not plain:
        out.lost_sessions += 1


def _register(event: dict[str, Any], context: str) -> int | None:
    for value in event.get("meterValue", []):
        for sampled in value["sampledValue"]:
            if sampled.get("context") == context and sampled.get("measurand") == REGISTER:
                return round(float(sampled["value"]))
    return None


def _check_session(s: sqlite3.Row, events: list[dict[str, Any]], out: Delivery) -> None:
    out.sessions += 1
    out.power_loss_sessions += s["stop_reason"] == "PowerLoss"
    recorded_wh = s["meter_stop_wh"] - s["meter_start_wh"]
    out.recorded_wh += recorded_wh
    # The session's start: its Started, or the Updated that joined a plug-in's transaction.
    start = next((e for e in events if "idToken" in e and e["eventType"] != "Ended"), None)
    stop = next((e for e in events if e["eventType"] == "Ended"), None)
    number = schedule.CONNECTORS.index(s["connector_id"]) + 1
    expected = (number, s["id_tag"], s["meter_start_wh"], iso_utc(s["start_at_s"]))
    if start is None or stop is None or (
        start["evse"]["id"], start["idToken"]["idToken"], _register(start, "Transaction.Begin"),
        start["timestamp"],
    ) != expected:  # fmt: skip
        out.lost_sessions += 1
        out.lost_wh += recorded_wh
        return
    assert stop["timestamp"] == iso_utc(s["stop_at_s"]), (dict(s), stop)
    billed_wh = (_register(stop, "Transaction.End") or 0) - s["meter_start_wh"]
    out.billed_wh += billed_wh
    out.lost_wh += recorded_wh - billed_wh
    stamps = [from_iso(e["timestamp"]) for e in events if e["eventType"] == "Updated"]
    out.meter_values_outside += sum(
        1 for at_s in stamps if not s["start_at_s"] <= at_s <= s["stop_at_s"]
    )
