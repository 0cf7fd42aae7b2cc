"""Schema 8: a full backlog of OCPP 1.6 rows, from every earlier schema version, becomes events.

The rows are written as releases up to schema 7 wrote them (the session side's start, samples
and stop, the uplink's samples with phases, locations and SoC, stops with the registers at
begin and end), pending, acked and parked. After the upgrade every row is still there in the
same order and state, and each event renders for OCPP 1.6 to exactly the payload the row held
(the sender adding the connector number and the transaction id, as before): the same Wh, the
same digits, the same times, so a CALL in flight at the upgrade goes out again byte for byte.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge_controller.storage.database import Database
from edge_controller.storage.migrations import LATEST_VERSION, migrate
from edge_controller.storage.outbox import Outbox, OutboxMessage
from edge_controller.storage.outbox.from_ocpp16 import UNCONVERTED
from edge_controller.uplink.clock import ClockSync, to_iso
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v16.render import Connection, request

BEFORE_EVENTS = 7  # the last schema with OCPP 1.6 messages in the outbox
SESSIONS = 40
SAMPLES = 12
T0_S = 1_795_737_600.0
CONNECTION = Connection(Topology("per_charger", "site", {"cp": 2}), ClockSync())


def _sample(at_s: float, values: list[dict[str, str]]) -> dict[str, Any]:
    return {"timestamp": to_iso(at_s), "sampledValue": values}


def _value(value: str, measurand: str, unit: str, context: str, **extra: str) -> dict[str, str]:
    return {"value": value, "context": context, "measurand": measurand, "unit": unit, **extra}


def _session_rows(n: int) -> list[tuple[str, dict[str, Any]]]:
    """One session's rows as schema 7 queued them, alternating the producers' forms."""
    connector = f"cp:{n % 2 + 1}"
    start_wh, at_s = 10_000 * n + 7, T0_S + 3600 * n + 0.123
    start: dict[str, Any] = {"connectorId": connector, "idTag": f"TAG{n:04d}",
                             "meterStart": start_wh, "timestamp": to_iso(at_s)}  # fmt: skip
    if n % 5 == 0:
        start["reservationId"] = 900 + n
    rows: list[tuple[str, dict[str, Any]]] = [("StartTransaction", start)]
    for k in range(1, SAMPLES + 1):
        wh, when_s = start_wh + 137 * k, at_s + 60 * k
        if k % 3:  # the session side: register and power
            values = [
                _value(str(wh), "Energy.Active.Import.Register", "Wh", "Sample.Periodic"),
                _value(f"{7123.4 + k:.0f}", "Power.Active.Import", "W", "Sample.Periodic"),
            ]
        else:  # the uplink: what the CSMS asked for, per phase
            context = "Sample.Clock"
            values = [
                _value(str(wh), "Energy.Active.Import.Register", "Wh", context, location="Outlet"),
                *(_value(f"{15.95 + i:.1f}", "Current.Import", "A", context, phase=p)
                  for i, p in enumerate(("L1", "L2", "L3"))),
                *(_value("230.0", "Voltage", "V", context, phase=p)
                  for p in ("L1-N", "L2-N", "L3-N")),
                _value("16.0", "Current.Offered", "A", context),
                _value(f"{40 + k}.0", "SoC", "Percent", context, location="EV"),
            ]  # fmt: skip
        meter_values = {"connectorId": connector, "meterValue": [_sample(when_s, values)]}
        rows.append(("MeterValues", meter_values))
    stop_wh, stop_s = start_wh + 137 * SAMPLES + 5, at_s + 60 * SAMPLES + 30
    stop: dict[str, Any] = {"meterStop": stop_wh, "timestamp": to_iso(stop_s),
                            "reason": ("Local", "EVDisconnected", "PowerLoss")[n % 3]}  # fmt: skip
    if n % 4 == 0:
        stop["idTag"] = f"TAG{n:04d}"
    if n % 2 == 0:
        begin = _value(str(start_wh), "Energy.Active.Import.Register", "Wh", "Transaction.Begin")
        end = _value(str(stop_wh), "Energy.Active.Import.Register", "Wh", "Transaction.End")
        stop["transactionData"] = [_sample(at_s, [begin]), _sample(stop_s, [end])]
    rows.append(("StopTransaction", stop))
    return rows


def _database_with_messages(path: Path, version: int) -> list[dict[str, Any]]:
    """A database at ``version`` with a full backlog; returns its outbox rows in order."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(conn, target=version)
        for n in range(1, SESSIONS + 1):
            conn.execute(
                "INSERT INTO sessions (local_id, connector_id, id_tag, start_at_s,"
                " meter_start_wh, last_meter_wh, last_meter_at_s, stop_at_s, meter_stop_wh,"
                " source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (n, f"cp:{n % 2 + 1}", f"TAG{n:04d}", T0_S + 3600 * n + 0.123,
                 10_000 * n + 7, 10_000 * n + 7, T0_S, T0_S, 1, "remote" if n % 3 else "local"),
            )  # fmt: skip
            conn.execute("INSERT INTO meter_values (session_local_id, at_s, energy_wh, context)"
                         " VALUES (?, ?, ?, 'Sample.Clock')", (n, T0_S, 1))  # fmt: skip
            for action, payload in _session_rows(n):
                kind = {"StartTransaction": "start", "StopTransaction": "stop"}.get(action)
                conn.execute(
                    "INSERT INTO outbox (identity, action, payload, kind, session_local_id,"
                    " created_at_s) VALUES ('cp', ?, ?, ?, ?, ?)",
                    (action, json.dumps(payload, separators=(",", ":")), kind or "sample", n,
                     T0_S + n),
                )  # fmt: skip
        conn.execute("INSERT INTO transaction_ids VALUES (1, 501)")
        # the first session went out before the upgrade; one sample was refused by the CSMS
        conn.execute("UPDATE outbox SET state = 'acked' WHERE session_local_id = 1")
        conn.execute("UPDATE outbox SET state = 'parked', last_error = 'bad' WHERE seq = 20")
        conn.execute("INSERT INTO outbox (identity, action, payload, created_at_s)"
                     " VALUES ('cp', 'DataTransfer', '{\"vendorId\":\"x\"}', 1)")  # fmt: skip
        rows = conn.execute("SELECT seq, action, payload, session_local_id, state, attempts"
                            " FROM outbox ORDER BY seq").fetchall()  # fmt: skip
    finally:
        conn.close()
    keys = ("seq", "action", "payload", "session", "state", "attempts")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _expected(row: dict[str, Any], remote_id: int | None) -> dict[str, Any]:
    """What the sender of schema 7 sent for ``row``: our connector id as its number, the
    transaction id last."""
    payload: dict[str, Any] = json.loads(row["payload"])
    if isinstance(payload.get("connectorId"), str):
        payload["connectorId"] = CONNECTION.connector(payload["connectorId"])
    if row["action"] != "StartTransaction" and remote_id is not None:
        payload["transactionId"] = remote_id
    return payload


async def _all_rows(db: Database) -> list[OutboxMessage]:
    outbox = Outbox(db)
    pending = await outbox.peek_many("cp", limit=10_000)
    parked = await outbox.parked(limit=10_000)

    def acked(conn: sqlite3.Connection) -> list[int]:
        return [r[0] for r in conn.execute("SELECT seq FROM outbox WHERE state = 'acked'")]

    acked_seqs = set(await db.read(acked))
    assert len(acked_seqs) == SAMPLES + 2
    return sorted([*pending, *parked], key=lambda m: m.seq)


@pytest.mark.parametrize("version", range(1, BEFORE_EVENTS + 1))
async def test_a_full_backlog_becomes_events_from_every_earlier_version(
    tmp_path: Path, version: int
) -> None:
    before = _database_with_messages(tmp_path / "edge.db", version)
    db = await Database.open(tmp_path / "edge.db")
    try:
        assert db.schema_version == LATEST_VERSION
        after = await _all_rows(db)
        not_acked = [row for row in before if row["state"] != "acked"]
        assert [m.seq for m in after] == [row["seq"] for row in not_acked]  # same order
        for message, row in zip(after, not_acked, strict=True):
            if row["action"] == "DataTransfer":  # no event: kept aside with its payload
                assert message.state == "parked" and message.event is None
                assert message.unreadable
                assert "not an event: DataTransfer" in (message.last_error or "")
                continue
            assert message.event is not None, message.unreadable
            assert (message.state, message.attempts) == (row["state"], row["attempts"])
            assert message.session_local_id == row["session"]
            remote_id = 7000 + row["session"]  # the CSMS's id, once it gave one
            action, payload = request(message.event, remote_id, CONNECTION)
            assert (action, payload) == (row["action"], _expected(row, remote_id))
    finally:
        await db.close()


async def test_the_energy_billed_stays_the_same(tmp_path: Path) -> None:
    before = _database_with_messages(tmp_path / "edge.db", BEFORE_EVENTS)
    db = await Database.open(tmp_path / "edge.db")
    try:
        after = {m.seq: m.event for m in await _all_rows(db)}
    finally:
        await db.close()

    def billed_wh(events: dict[str, dict[int, int]]) -> int:
        return sum(events["stop"][n] - events["start"][n] for n in events["stop"])

    old: dict[str, dict[int, int]] = {"start": {}, "stop": {}}
    new: dict[str, dict[int, int]] = {"start": {}, "stop": {}}
    for row in before:
        payload = json.loads(row["payload"])
        if row["state"] != "acked" and row["action"] == "StartTransaction":
            old["start"][row["session"]] = payload["meterStart"]
            new["start"][row["session"]] = getattr(after[row["seq"]], "start_register_wh", -1)
        if row["state"] != "acked" and row["action"] == "StopTransaction":
            old["stop"][row["session"]] = payload["meterStop"]
            new["stop"][row["session"]] = getattr(after[row["seq"]], "stop_register_wh", -1)
    assert billed_wh(new) == billed_wh(old) == (SESSIONS - 1) * (137 * SAMPLES + 5)


async def test_meter_values_keep_their_context_in_domain_words(tmp_path: Path) -> None:
    _database_with_messages(tmp_path / "edge.db", BEFORE_EVENTS)
    db = await Database.open(tmp_path / "edge.db")
    try:

        def contexts(conn: sqlite3.Connection) -> set[str]:
            return {r[0] for r in conn.execute("SELECT DISTINCT context FROM meter_values")}

        assert await db.read(contexts) == {"clock_aligned"}
    finally:
        await db.close()


async def test_a_row_no_release_wrote_is_parked_with_its_payload_kept(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=BEFORE_EVENTS)
    odd = '{"connectorId":"cp:1","meterValue":[{"timestamp":"x","sampledValue":[]}]}'
    conn.execute("INSERT INTO outbox (identity, action, payload, created_at_s)"
                 " VALUES ('cp', 'MeterValues', ?, 1)", (odd,))  # fmt: skip
    conn.close()
    db = await Database.open(path)
    try:
        (parked,) = await Outbox(db).parked()
        assert parked.event is None and parked.last_error is not None

        def body(conn: sqlite3.Connection) -> tuple[str, str]:
            row = conn.execute("SELECT event, body FROM outbox").fetchone()
            return str(row[0]), str(row[1])

        event_type, kept = await db.read(body)
        assert event_type == UNCONVERTED
        assert json.loads(kept) == {"action": "MeterValues", "payload": odd}
    finally:
        await db.close()
