"""Receipts over the web: the REST API's receipt and the console's HTML receipt are the ones the
``sessions receipt`` command makes from the stored session (a real database, a real aiohttp
server); their energy and cost are held against the stored session row."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app import sessions_report as report
from edge_controller.app.web import SessionHistory, web_command
from edge_controller.config.settings import WebSettings
from edge_controller.domain.commands import Command, CommandResult
from edge_controller.domain.pricing import Currency, Money
from edge_controller.domain.pricing.receipt import receipt_html
from edge_controller.domain.problems import FiledReport, ProblemReport
from edge_controller.domain.snapshot import SiteView
from edge_controller.storage import history
from edge_controller.storage.database import Database
from edge_controller.storage.sessions_store import SessionStore
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from edge_controller.web.passwords import hash_password
from tests.unit.app.test_sessions_report import BERLIN, make_history

pytestmark = pytest.mark.integration

TOKEN = "receipts-token-0123456789abcdef"
PASSWORD = "correct horse battery"
VIEW = SiteView("site1", None, 63.0, None, None)


class Site:
    def current(self) -> SiteView:
        return VIEW

    async def next_view(self) -> SiteView:
        return VIEW


class NoReports:
    async def file(self, report: ProblemReport) -> FiledReport:
        raise AssertionError("nothing is reported here")

    async def recent(self, limit: int, open_only: bool) -> list[FiledReport]:
        return []

    async def open_count(self) -> int:
        return 0

    async def handle(self, number: int, wanted: str, by: str, note: str) -> FiledReport | None:
        return None


class NoCommands:
    async def decide(self, command: Command) -> CommandResult:
        raise AssertionError("nothing is changed here")


def web_settings(tmp_path: Path) -> WebSettings:
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "hash").write_text(hash_password(PASSWORD))
    for name in ("token", "hash"):
        (tmp_path / name).chmod(0o600)
    return WebSettings.model_validate(
        {
            "api_tokens": {"books": {"token_file": str(tmp_path / "token")}},
            "accounts": {"viv": {"role": "viewer", "password_hash_file": str(tmp_path / "hash")}},
        }
    )


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Path, list[int]]]:
    path = tmp_path / "edge.db"
    ids = await make_history(path)
    db = await Database.open(path)
    sessions = SessionHistory(SessionStore(db), report.Query(path, "site1", BERLIN))
    hub = DisplayHub(Site(), DisplaySetup("site1"), 1.0)
    app = build_app(
        web_settings(tmp_path), hub, Sources(NoReports(), sessions, {}, NoCommands(), web_command)
    )
    async with TestClient(TestServer(app)) as client:
        yield client, path, ids
    await db.close()


async def log_in(client: TestClient[Any, Any]) -> None:
    async with client.get("/console/login") as response:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await response.text())
    assert csrf is not None
    form = {"user": "viv", "password": PASSWORD, "csrf": csrf.group(1)}
    async with client.post("/console/login", data=form, allow_redirects=False) as response:
        assert response.status == 303


def stored(path: Path, local_id: int) -> history.HistoryRow:
    with history.reading(path) as conn:
        row = history.session(conn, local_id)
    assert row is not None
    return row


async def test_the_api_receipt_is_the_stored_session_and_unknown_ids_are_404(
    served: tuple[TestClient[Any, Any], Path, list[int]],
) -> None:
    client, path, ids = served
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for local_id in (ids[0], ids[7], ids[13]):  # priced; power loss; the second tariff version
        async with client.get(f"/api/v1/sessions/{local_id}/receipt", headers=auth) as response:
            assert response.status == 200
            found = await response.json()
        assert found == report.receipt(report.Query(path, "site1", BERLIN), local_id)
        row = stored(path, local_id)
        assert found["session_id"] == local_id and found["connector_id"] == row.connector_id
        assert found["energy"]["energy_wh"] == row.energy_wh > 0
        assert row.total_incl_tax_minor is not None and row.currency is not None
        cost = Money.of_minor(row.total_incl_tax_minor, Currency.of(row.currency))
        assert Decimal(found["total_incl_tax"]) == cost.amount
        assert "04A1B2C3D4" not in str(found)  # id tags masked
    for unknown in (str(ids[-1]), "99999", "x1", "١", "9" * 40):  # running, absent, not ids
        async with client.get(f"/api/v1/sessions/{unknown}/receipt", headers=auth) as response:
            assert response.status == 404
            assert (await response.json())["code"] == "unknown_session"
    async with client.get(f"/api/v1/sessions/{ids[0]}/receipt") as response:
        assert response.status == 401


async def test_the_console_lists_sessions_with_links_to_their_html_receipts(
    served: tuple[TestClient[Any, Any], Path, list[int]],
) -> None:
    client, path, ids = served
    async with client.get(f"/console/sessions/{ids[0]}/receipt", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/console/login"
    await log_in(client)
    async with client.get("/console") as response:
        page = await response.text()
    links = re.findall(r'href="(/console/sessions/(\d+)/receipt)"', page)
    assert {int(n) for _, n in links} == set(ids[-20:-1])  # the latest 20 less the running one
    assert f'<tr data-session="{ids[-1]}">' in page and "running" in page
    href = next(h for h, n in links if int(n) == ids[13])
    async with client.get(href) as response:
        assert response.status == 200
        assert "style-src 'unsafe-inline'" in response.headers["Content-Security-Policy"]
        html = await response.text()
    receipt = report.receipt(report.Query(path, "site1", BERLIN), ids[13])
    assert html == receipt_html(receipt)
    row = stored(path, ids[13])
    assert row.total_incl_tax_minor is not None and row.currency is not None
    assert str(Money.of_minor(row.total_incl_tax_minor, Currency.of(row.currency)).amount) in html
    async with client.get("/console/sessions/99999/receipt") as response:
        assert response.status == 404
