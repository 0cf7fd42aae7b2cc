"""The console's live view and what waits for an operator, against a real database and a real
aiohttp server: the live stream carries each snapshot of the site as the page's cells show it;
the parked outbox messages and the card payments of unknown outcome are the stored ones; an
operator puts parked messages back in line (a viewer, a stray post or a wrong number cannot)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app import sessions_report as report
from edge_controller.app.web import OperatorQueue, SessionHistory, web_command
from edge_controller.config.settings import WebSettings
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.snapshot import Availability, ChildView, ConnectorView, SiteView
from edge_controller.storage import history
from edge_controller.storage.database import Database
from edge_controller.storage.payments_store import PaymentStore
from edge_controller.storage.sessions_store import SessionStore
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from edge_controller.web.console_live import child_cells, connector_cells, site_cells
from edge_controller.web.passwords import hash_password
from tests.integration.web.test_console_sessions import NoCommands, NoReports
from tests.outbox_events import T0_S
from tests.unit.app.test_held_for_operator import refused
from tests.unit.app.test_sessions_report import BERLIN

pytestmark = pytest.mark.integration

PASSWORDS = {"ops": "operator pass 1", "eve": "viewer pass 22"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
EUR = Currency.of("EUR")


def view(state: Availability, power_w: float | None, at_s: float) -> SiteView:
    connectors = (
        ConnectorView("wb1:1", state, 16.0, "cable 16A", power_w=power_w, at_s=at_s),
        ConnectorView("wb1:2", Availability.AVAILABLE, 0.0, "no EV", at_s=at_s),
    )
    return SiteView(
        "site1", (12.5, 3.0, 3.0), 63.0, None, 0.5, connectors, uplink_online=True,
        outbox_backlog=2, outbox_parked=3, payments_unknown=2, at_s=at_s,
    )  # fmt: skip


class Site:
    """The control loop's snapshots, as the test makes them."""

    def __init__(self) -> None:
        self.now = view(Availability.AVAILABLE, None, T0_S)
        self.next: asyncio.Queue[SiteView] = asyncio.Queue()
        self.woken: list[int] = []  # the uplink sender's wake-ups

    def current(self) -> SiteView:
        return self.now

    async def next_view(self) -> SiteView:
        self.now = await self.next.get()
        return self.now


def settings(tmp_path: Path) -> WebSettings:
    accounts = {}
    for user, role in (("ops", "operator"), ("eve", "viewer")):
        path = tmp_path / f"{user}.hash"
        path.write_text(hash_password(PASSWORDS[user]))
        path.chmod(0o600)
        accounts[user] = {"role": role, "password_hash_file": str(path)}
    return WebSettings.model_validate({"accounts": accounts})


Served = tuple[TestClient[Any, Any], Site, Path, list[int]]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    path = tmp_path / "edge.db"
    db = await Database.open(path)
    outbox, seqs = await refused(db)
    payments = PaymentStore(db)
    await payments.authorising("t1", "wb1:2", Money.of_minor(5000, EUR), T0_S)
    await payments.authorising("t1", "wb1:1", Money.of_minor(2550, EUR), T0_S + 60)
    assert len(await payments.unknown_outcomes("t1")) == 2
    site = Site()
    hub = DisplayHub(site, DisplaySetup("site1", ("wb1:1", "wb1:2")), 5.0)
    sources = Sources(
        NoReports(),
        SessionHistory(SessionStore(db), report.Query(path, "site1", BERLIN)),
        {},
        NoCommands(),
        web_command,
        OperatorQueue(db, outbox, lambda: site.woken.append(1)),
    )
    app = build_app(settings(tmp_path), hub, sources)
    runner = asyncio.create_task(hub.run())
    async with TestClient(TestServer(app)) as client:
        yield client, site, path, seqs
    runner.cancel()
    await db.close()


async def log_in(client: TestClient[Any, Any], user: str) -> str:
    """Log in; the console page after it."""
    async with client.get("/console/login") as response:
        token = CSRF.findall(await response.text())[0]
    form = {"user": user, "password": PASSWORDS[user], "csrf": token}
    origin = {"Origin": str(client.make_url("")).rstrip("/")}
    async with client.post("/console/login", data=form, headers=origin) as response:
        assert response.status == 200
        return await response.text()


async def next_event(response: ClientResponse) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            line = (await response.content.readline()).decode()
            if line.startswith("data: "):
                found: dict[str, Any] = json.loads(line[6:])
                return found


def page_cells(page: str, scope: str) -> dict[str, str]:
    """The cells of the row (or line) that starts at ``scope``."""
    part = page.split(scope, 1)[1].split("</tr>", maxsplit=1)[0]
    return dict(re.findall(r'data-col="([a-z_]+)">([^<]*)<', part))


async def test_the_live_stream_carries_each_snapshot_as_the_page_shows_it(served: Served) -> None:
    client, site, _, _ = served
    async with client.get("/console/live") as response:
        assert response.status == 401  # not logged in
    page = await log_in(client, "eve")
    assert '<script src="/static/console.js"></script>' in page
    first = site.current()
    row = page_cells(page, 'data-connector="wb1:1"')
    assert row == connector_cells(first.connectors[0]) and row["state"] == "Available"
    line = page_cells(page, 'id="site"')
    assert line == site_cells(first) and line["grid_a"] == "12.5 / 3.0 / 3.0"
    async with client.get("/console/live") as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        model = await next_event(stream)
        assert model["site"] == line
        assert model["connectors"][0] == {"id": "wb1:1", "cells": row}
        charging = dataclasses.replace(
            view(Availability.CHARGING, 11040.0, T0_S + 1),
            allocation_notes=("settling after a decrease",),
        )
        site.next.put_nowait(charging)
        model = await next_event(stream)
        assert model["at_s"] == T0_S + 1
        assert (line["allocation"], model["site"]["allocation"]) == (
            "-",
            "settling after a decrease",
        )
        cells = model["connectors"][0]["cells"]
        assert cells == connector_cells(charging.connectors[0])
        assert (cells["state"], cells["power_w"]) == ("Charging", "11040.0")
        # the page served now shows the same cells as the stream sent
        async with client.get("/console") as response:
            assert page_cells(await response.text(), 'data-connector="wb1:1"') == cells
        await client.post("/console/logout", data={"csrf": CSRF.findall(page)[0]},
                          headers={"Origin": str(client.make_url("")).rstrip("/")})  # fmt: skip
        site.next.put_nowait(replace(charging, at_s=T0_S + 2))
        async with asyncio.timeout(10):
            rest = await stream.content.read()  # a logout ends the stream
        assert b"data:" not in rest or rest.count(b"data:") <= 1


async def test_a_parent_s_children_are_listed_and_follow_the_stream(served: Served) -> None:
    client, site, _, _ = served
    page = await log_in(client, "eve")
    assert '<section id="children" hidden>' in page  # no children: a standalone site
    heard = ChildView("hall-a", 0.42, (24.0, 24.0, 23.5), (24.0, 24.0, 23.5), lost=False)
    silent = ChildView("hall-b", None, None, (12.0, 12.0, 12.0), lost=True)
    parent = replace(site.current(), gateway_children=(heard, silent), at_s=T0_S + 1)
    async with client.get("/console/live") as stream:
        await next_event(stream)
        site.next.put_nowait(parent)
        model = await next_event(stream)
    assert model["children"] == [
        {"id": "hall-a", "cells": child_cells(heard)},
        {"id": "hall-b", "cells": child_cells(silent)},
    ]
    assert child_cells(heard) == {
        "age": "0.4 s",
        "budget_a": "24.0 / 24.0 / 23.5",
        "counted_a": "24.0 / 24.0 / 23.5",
        "lost": "reporting",
    }
    assert child_cells(silent) == {
        "age": "none yet",
        "budget_a": "-",
        "counted_a": "12.0 / 12.0 / 12.0",
        "lost": "lost",
    }
    async with client.get("/console") as response:
        page = await response.text()
    assert '<section id="children">' in page
    assert page_cells(page, 'data-child="hall-a"') == child_cells(heard)
    assert page_cells(page, 'data-child="hall-b"') == child_cells(silent)


def stored_parked(path: Path) -> list[history.ParkedRow]:
    with history.reading(path) as conn:
        return history.parked_messages(conn)


async def test_parked_messages_and_unknown_payments_are_the_stored_ones(served: Served) -> None:
    client, _, path, seqs = served
    async with client.get("/console/held", allow_redirects=False) as response:
        assert response.status == 303
    page = await log_in(client, "eve")
    parked_rows = re.findall(r'<tr data-seq="(\d+)">(.*?)</tr>', page)
    stored = stored_parked(path)
    assert [int(seq) for seq, _ in parked_rows] == [r.seq for r in stored] == seqs
    for (_, cells), row in zip(parked_rows, stored, strict=True):
        texts = re.findall(r"<td>([^<]*)</td>", cells)
        assert texts[:7] == [
            str(row.seq), row.identity, row.event, str(row.session_local_id),
            datetime.fromtimestamp(row.created_at_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            str(row.attempts), row.last_error,
        ]  # fmt: skip
    assert "Put back in line" not in page  # a viewer gets no buttons
    unknown = page.split('<table id="unknown-payments">', 1)[1].split("</table>", 1)[0]
    unknown = unknown.split("<tbody>", 1)[1]
    with history.reading(path) as conn:
        intents = history.unknown_intents(conn)
    shown = [re.findall(r"<td>([^<]*)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", unknown)]
    assert shown == [
        [i.terminal_id, i.connector_id, str(Money.of_minor(i.amount_minor, EUR).amount),
         i.currency, "2026-11-27T00:00:00Z" if i.at_s == T0_S else "2026-11-27T00:01:00Z"]
        for i in intents
    ]  # fmt: skip
    assert [row[2] for row in shown] == ["50.00", "25.50"]
    async with client.get("/console/held") as response:
        assert await response.text() in page  # the fragment the live page refills


async def test_an_operator_puts_parked_messages_back_in_line(served: Served) -> None:
    client, site, path, seqs = served
    origin = {"Origin": str(client.make_url("")).rstrip("/")}
    page = await log_in(client, "eve")
    token = CSRF.findall(page)[0]
    async with client.post(
        "/console/outbox/requeue", data={"seq": str(seqs[0]), "csrf": token}, headers=origin
    ) as response:
        assert response.status == 403  # a viewer
    page = await log_in(client, "ops")
    assert page.count("Put back in line") == 3 and "Put all back in line" in page
    token = CSRF.findall(page)[0]
    for form, status in (
        ({"seq": str(seqs[0])}, 403),  # no CSRF token
        ({"seq": "999", "csrf": token}, 409),  # not parked
        ({"seq": "x", "csrf": token}, 400),
        ({"seq": str(seqs[0]), "all": "true", "csrf": token}, 400),
        ({"csrf": token}, 400),
    ):
        async with client.post("/console/outbox/requeue", data=form, headers=origin) as response:
            assert response.status == status, form
    assert [r.seq for r in stored_parked(path)] == seqs  # nothing above changed anything
    assert site.woken == []
    form = {"seq": str(seqs[1]), "csrf": token}
    async with client.post(
        "/console/outbox/requeue", data=form, headers=origin, allow_redirects=False
    ) as response:
        assert response.status == 303
    assert [r.seq for r in stored_parked(path)] == [seqs[0], seqs[2]]
    assert site.woken == [1]  # the sender sends it at once
    async with client.post(
        "/console/outbox/requeue", data={"all": "true", "csrf": token}, headers=origin
    ) as response:
        assert response.status == 200  # back on the console
        assert '<tr data-seq="' not in await response.text()
    assert stored_parked(path) == []
    with history.reading(path) as conn:
        rows = conn.execute("SELECT state, attempts FROM outbox WHERE seq IN (?, ?, ?)", seqs)
        assert rows.fetchall() == [("pending", 0)] * 3  # tried again from the start
