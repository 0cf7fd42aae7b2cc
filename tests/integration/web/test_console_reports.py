"""The console's sessions page, its CSV export and the revenue page, against a real database
and a real aiohttp server: every filter selects what ``edge-controller sessions`` selects with
the same options (byte for byte in CSV), and the revenue per day and payment method equals the
stored session costs and the terminals' stored settlements, summed here in minor units."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app import sessions_report as report
from edge_controller.app.web import SessionHistory, web_command
from edge_controller.cli import main
from edge_controller.domain.payments import Capture, PaymentAuthorisation
from edge_controller.domain.pricing import Currency, Money
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.database import Database
from edge_controller.storage.payments_store import PaymentKey, PaymentStore
from edge_controller.storage.sessions_store import SessionStart, SessionStore, TariffRef
from edge_controller.storage.tariff_store import TariffStore
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from tests.integration.web.test_console_sessions import (
    NoCommands,
    NoReports,
    Site,
    log_in,
    web_settings,
)
from tests.unit.app.test_sessions_report import BERLIN, DAY0_S, EUR, make_history

pytestmark = pytest.mark.integration

CONNECTORS = ("wb1:1", "wb1:2")
PAID = (0, 3, 5, 11)  # sessions of make_history paid with a card at a terminal
# (connector, source, day, hour) of sessions started another way than a card tap (wb1:1
# still charges)
OTHER_WAYS = (("wb1:2", "remote", 0, 19), ("wb1:2", "remote", 2, 20), ("wb1:2", "free", 1, 21))


async def _pay_at_terminal(db: Database, local_id: int, n: int) -> None:
    """As the payment service does: approve, start, capture the session's priced cost."""
    store = PaymentStore(db)
    cost = await db.read(
        lambda c: c.execute(
            "SELECT total_incl_tax_minor FROM session_costs WHERE session_local_id = ?",
            (local_id,),
        ).fetchone()[0]
    )
    auth = PaymentAuthorisation(
        f"0001/00100{n}/00", Money(Decimal("30.00"), EUR), "girocard", ("PRE-AUTH",), ()
    )
    at_s = DAY0_S + n * 1800
    await store.authorised(auth, "entrance", CONNECTORS[n % 2], at_s)
    key = PaymentKey("entrance", auth.reference)
    await store.started(key, local_id, at_s)
    await store.capturing(key, at_s + 700)
    await store.settled(key, Capture(auth.reference, Money.of_minor(cost, EUR), (), ()), at_s + 701)


async def make_paid_history(path: Path) -> list[int]:
    """``make_history``'s 21 sessions, four of them paid at a terminal, plus three started by
    the CSMS (app or web payment) or by free vend."""
    ids = await make_history(path)
    db = await Database.open(path)
    try:
        pricing = SessionPricing(TariffStore(db), BERLIN)
        sessions = SessionStore(db)
        for n in PAID:
            await _pay_at_terminal(db, ids[n], n)
        for k, (cid, source, day, hour) in enumerate(OTHER_WAYS):
            start_s = DAY0_S + day * 86_400 + (hour - 8) * 3600
            ref = TariffRef("std", 2, "config")
            record = await sessions.start(
                SessionStart(cid, f"APP{k:04d}", start_s, 90_000, source=source, tariff=ref)
            )
            await sessions.sample(record.local_id, start_s + 60, 90_500)
            await sessions.stop(record.local_id, start_s + 900, 90_000 + 4321 * (k + 1),
                                "Remote", price=pricing.price)  # fmt: skip
            ids.append(record.local_id)
    finally:
        await db.close()
    return ids


Served = tuple[TestClient[Any, Any], Path, list[int]]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    state = tmp_path / "state"
    state.mkdir()
    path = state / "edge.db"
    ids = await make_paid_history(path)
    db = await Database.open(path)
    sessions = SessionHistory(SessionStore(db), report.Query(path, "site1", BERLIN))
    hub = DisplayHub(Site(), DisplaySetup("site1", CONNECTORS), 1.0)
    app = build_app(
        web_settings(tmp_path), hub, Sources(NoReports(), sessions, {}, NoCommands(), web_command)
    )
    async with TestClient(TestServer(app)) as client:
        yield client, path, ids
    await db.close()


def cli_csv(path: Path, options: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    config = path.parent.parent / "site.yaml"
    config.write_text(
        "site: {id: site1, grid_limit_a: 63, time_zone: Europe/Berlin}\n"
        f"storage: {{state_dir: {path.parent}}}\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["sessions", "--config", str(config), "--format", "csv", *options]) == 0
    return capsys.readouterr().out


def stored_costs(path: Path) -> dict[int, tuple[int | None, str]]:
    """Each session's stored cost incl. tax in minor units, and its currency."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT s.local_id, c.total_incl_tax_minor, c.currency FROM sessions AS s"
            " LEFT JOIN session_costs AS c ON c.session_local_id = s.local_id"
        ).fetchall()
    return {sid: (minor, currency or "") for sid, minor, currency in rows}


FILTERS: list[tuple[dict[str, str], list[str]]] = [
    ({}, []),
    ({"connector": "wb1:1"}, ["--connector", "wb1:1"]),
    ({"from": "2026-03-03", "to": "2026-03-03"}, ["--from", "2026-03-03", "--to", "2026-03-03"]),
    ({"method": "card_terminal"}, ["--method", "card_terminal"]),
    ({"method": "csms", "connector": "wb1:2"}, ["--method", "csms", "--connector", "wb1:2"]),
    ({"status": "running"}, ["--status", "running"]),
    (
        {"status": "finished", "from": "2026-03-04"},
        ["--status", "finished", "--from", "2026-03-04"],
    ),
]


async def test_each_filter_lists_and_exports_what_the_cli_exports(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    client, path, ids = served
    async with client.get("/console/sessions.csv", allow_redirects=False) as response:
        assert response.status == 303 and response.headers["Location"] == "/console/login"
    await log_in(client)
    costs = stored_costs(path)
    counts = []
    for params, options in FILTERS:
        async with client.get("/console/sessions.csv", params=params) as response:
            assert response.status == 200 and response.content_type == "text/csv"
            assert "attachment" in response.headers["Content-Disposition"]
            assert response.headers["Transfer-Encoding"] == "chunked"  # streamed as read
            exported = await response.text()
        assert exported == cli_csv(path, options, capsys), params
        rows = list(csv.DictReader(io.StringIO(exported)))
        counts.append(len(rows))
        for row in rows:  # the money is the stored cost, to the cent
            minor, currency = costs[int(row["session_id"])]
            shown = (
                "" if minor is None else str(Money.of_minor(minor, Currency.of(currency)).amount)
            )
            assert row["incl_tax"] == shown and row["currency"] == currency
            assert row["connector_id"] == params.get("connector", row["connector_id"])
            assert row["payment_method"] == params.get("method", row["payment_method"])
        async with client.get("/console/sessions", params=params) as response:
            page = await response.text()
        listed = [int(n) for n in re.findall(r'<tr data-session="(\d+)">', page)]
        assert listed == [int(r["session_id"]) for r in reversed(rows)], params  # newest first
        export = re.search(r'id="export" href="([^"]+)"', page)
        assert export is not None
        async with client.get(export.group(1).replace("&amp;", "&")) as response:
            assert await response.text() == exported  # the page's export link keeps its filter
    # every filter narrows the whole list, and each selected something
    assert counts[0] == len(ids) == 24 and all(0 < n < 24 for n in counts[1:])
    assert counts[3] == len(PAID) and counts[5] == 1


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-03-04", "to": "2026-03-02"}, "from"),
        ({"connector": "wb9:1"}, "connector"),
        ({"method": "cash"}, "method"),
        ({"status": "paused"}, "status"),
    ],
)
async def test_a_wrong_filter_is_refused_naming_the_key(
    served: Served, params: dict[str, str], named: str
) -> None:
    client, _, _ = served
    await log_in(client)
    for route in ("/console/sessions", "/console/sessions.csv", "/console/revenue"):
        async with client.get(route, params=params) as response:
            assert response.status == 400
            assert (await response.text()).startswith(f"{named}:")


def _table(page: str, table_id: str) -> list[dict[str, str]]:
    """The rows of one table of the page: cells by column, then the row's data attributes
    (the method's code, where its cell shows its name)."""
    body = page.split(f'<table id="{table_id}">', 1)[1].split("</table>", 1)[0]
    rows = []
    for attrs, cells in re.findall(r"<tr ([^>]*)>(.*?)</tr>", body):
        row = dict(re.findall(r'<td data-col="([a-z_]+)">([^<]*)</td>', cells))
        row.update(re.findall(r'data-([a-z]+)="([^"]*)"', attrs))
        rows.append(row)
    return rows


def stored_revenue(path: Path) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Straight from the tables: finished sessions' costs per (site-local day, method), and
    the settlements the terminals captured per day, in minor units."""
    by_day: dict[tuple[str, str], int] = defaultdict(int)
    captured: dict[str, int] = defaultdict(int)
    with sqlite3.connect(path) as conn:
        for start_s, source, cost, settled in conn.execute(
            "SELECT s.start_at_s, s.source, c.total_incl_tax_minor, p.settled_minor"
            " FROM sessions AS s JOIN session_costs AS c ON c.session_local_id = s.local_id"
            " LEFT JOIN payments AS p ON p.session_local_id = s.local_id AND p.state = 'settled'"
            " WHERE s.stop_at_s IS NOT NULL"
        ):
            day = datetime.fromtimestamp(start_s, UTC).astimezone(BERLIN).date().isoformat()
            method = (
                "card_terminal"
                if settled is not None
                else {"remote": "csms"}.get(source, "free_vend" if source == "free" else "rfid")
            )
            by_day[day, method] += cost
            captured[day] += settled or 0
    return by_day, captured


def minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


async def test_revenue_per_day_and_method_is_the_stored_costs_and_settlements(
    served: Served,
) -> None:
    client, path, _ = served
    async with client.get("/console/revenue", allow_redirects=False) as response:
        assert response.status == 303
    await log_in(client)
    async with client.get("/console/revenue") as response:
        page = await response.text()
    days = [r for r in _table(page, "revenue-days") if r["currency"] == "EUR"]
    expected, captured = stored_revenue(path)
    assert {(r["day"], r["method"]): minor(r["incl_tax"]) for r in days} == expected
    assert {m for _, m in expected} == {"card_terminal", "csms", "rfid", "free_vend"}
    shown_captured: dict[str, int] = defaultdict(int)
    for r in days:
        shown_captured[r["day"]] += minor(r["captured"])
        if r["method"] == "card_terminal":  # a card session's captured amount is its price
            assert r["captured"] == r["incl_tax"]
    assert shown_captured == captured and sum(captured.values()) > 0
    methods = {r["method"]: r for r in _table(page, "revenue-methods") if r["currency"] == "EUR"}
    for method in methods:
        assert minor(methods[method]["incl_tax"]) == sum(
            v for (_, m), v in expected.items() if m == method
        )
    (total,) = [r for r in _table(page, "revenue-total") if r["currency"] == "EUR"]
    assert minor(total["incl_tax"]) == sum(expected.values())
    assert minor(total["captured"]) == sum(captured.values())
    assert minor(total["excl_tax"]) + minor(total["tax"]) == minor(total["incl_tax"])
    # one day, one connector: only its sessions
    async with client.get(
        "/console/revenue", params={"from": "2026-03-02", "to": "2026-03-02", "connector": "wb1:1"}
    ) as response:
        narrowed = _table(await response.text(), "revenue-days")
    assert {r["day"] for r in narrowed} == {"2026-03-02"}
    cli = io.StringIO()
    one_day = report.Query(path, "site1", BERLIN, connector_id="wb1:1")
    report.write_summary(one_day, "method", "json", cli)
    assert '"method": "card_terminal"' in cli.getvalue()


async def test_the_export_pieces_make_the_cli_text(served: Served) -> None:
    """Streamed in pieces of a few rows, the export is still the command's text."""
    _, path, _ = served
    query = report.Query(path, "site1", BERLIN, connector_id="wb1:2")
    pieces = list(report.csv_pieces(query, rows_per_piece=3))
    whole = io.StringIO()
    count = report.list_sessions(query, "csv", whole)
    assert "".join(pieces) == whole.getvalue() and count == 13
    assert len(pieces) == 5 and all(p.count("\n") == 3 for p in pieces[1:-1])
