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
        out.card_first += any(_card_first(e) for e in events)
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT s.*, t.remote_transaction_id AS remote,"
            " coalesce(p.after_session, 0) AS after_session FROM sessions s"
            " LEFT JOIN transaction_ids t ON t.session_local_id = s.local_id"
            " LEFT JOIN plug_transactions p ON p.local_id = s.local_id"
            " WHERE s.stop_at_s IS NOT NULL"
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


def _card_first(event: dict[str, Any]) -> bool:
    """The Started of a transaction begun at a card before the plug-in (TxStartPoint
    Authorized): the idToken, chargingState Idle."""
    idle = event["transactionInfo"].get("chargingState") == "Idle"
    return event["eventType"] == "Started" and "idToken" in event and idle


def _check_unjoined(events: list[dict[str, Any]], out: Delivery) -> None:
    """A transaction no session joined (begun at a plug-in, or at a card before it): Started
    and Ended, no energy, a token only where a card began it."""
    out.plugs_unjoined += 1
    ordered = sorted(events, key=lambda e: e["seqNo"])
    kinds = [(e["eventType"], e["triggerReason"]) for e in ordered]
    carded = bool(ordered) and _card_first(ordered[0])
    plain = all("meterValue" not in e and ("idToken" not in e or carded) for e in events)
    first = ("Started", "Authorized") if carded else ("Started", "CablePluggedIn")
    if len(kinds) != 2 or kinds[0] != first or kinds[1][0] != "Ended" or not plain:
        out.lost_sessions += 1


def _register(event: dict[str, Any], context: str) -> int | None:
    found = _reading(event, context)
    return None if found is None else found[0]


def _reading(event: dict[str, Any], context: str) -> tuple[int, str] | None:
    """The energy register of ``context`` in ``event`` and its time (None: not in it)."""
    for value in event.get("meterValue", []):
        for sampled in value["sampledValue"]:
            if sampled.get("context") == context and sampled.get("measurand") == REGISTER:
                return round(float(sampled["value"])), value["timestamp"]
    return None


def _check_session(s: sqlite3.Row, events: list[dict[str, Any]], out: Delivery) -> None:
    out.sessions += 1
    out.power_loss_sessions += s["stop_reason"] == "PowerLoss"
    recorded_wh = s["meter_stop_wh"] - s["meter_start_wh"]
    out.recorded_wh += recorded_wh
    # The session's start: its Started, or the Updated that joined a transaction begun before
    # it (at the plug-in: that Updated has the idToken; at a card: the Started has).
    ordered = sorted(events, key=lambda e: e["seqNo"])
    start = next((e for e in ordered if e["eventType"] != "Ended"
                  and _register(e, "Transaction.Begin") is not None), None)  # fmt: skip
    token = next((e for e in ordered if "idToken" in e and e["eventType"] != "Ended"), None)
    stop = next((e for e in events if e["eventType"] == "Ended"), None)
    number = schedule.CONNECTORS.index(s["connector_id"]) + 1
    expected = (number, s["id_tag"], s["meter_start_wh"], iso_utc(s["start_at_s"]))
    if start is None or token is None or stop is None or (
        start["evse"]["id"], token["idToken"]["idToken"], _register(start, "Transaction.Begin"),
        start["timestamp"],
    ) != expected:  # fmt: skip
        out.lost_sessions += 1
        out.lost_wh += recorded_wh
        return
    end = _reading(stop, "Transaction.End")
    # Its transaction ends with the session, or later (after it): with the session's end.
    assert end is not None and end[1] == iso_utc(s["stop_at_s"]), (dict(s), stop)
    if s["after_session"]:
        out.after_session += 1
        assert from_iso(stop["timestamp"]) >= s["stop_at_s"], (dict(s), stop)
    else:
        assert stop["timestamp"] == iso_utc(s["stop_at_s"]), (dict(s), stop)
    billed_wh = end[0] - s["meter_start_wh"]
    out.billed_wh += billed_wh
    out.lost_wh += recorded_wh - billed_wh
    stamps = [from_iso(e["timestamp"]) for e in events if e["eventType"] == "Updated"]
    out.meter_values_outside += sum(
        1 for at_s in stamps if not s["start_at_s"] <= at_s <= s["stop_at_s"]
    )
