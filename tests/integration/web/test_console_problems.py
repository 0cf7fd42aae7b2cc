"""Operators acknowledge and resolve problem reports in the console (a real database, a real
aiohttp server): who, when and the note are stored and shown, the open count in /metrics falls
on resolving, and the console's login, role and CSRF rules hold for it."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from edge_controller.app.problems import ProblemDesk
from edge_controller.app.web import web_command
from edge_controller.config.settings import WebSettings
from edge_controller.domain.problems import ProblemKind, ProblemReport
from edge_controller.storage.database import Database
from edge_controller.storage.problems_store import ProblemStore
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from edge_controller.web.passwords import hash_password
from tests.integration.web.test_console_sessions import TOKEN, NoCommands, Site

pytestmark = pytest.mark.integration

PASSWORDS = {"ops": "operator password 1", "viv": "viewer password 22"}
AT_S = 1_772_434_800.0  # 2026-03-02 07:00 UTC


class NoSessions:
    async def recent(self, limit: int) -> list[dict[str, Any]]:
        return []

    async def receipt(self, session_id: int) -> dict[str, Any] | None:
        return None


@dataclass
class Console:
    client: TestClient[Any, Any]
    path: Path
    numbers: list[int]

    async def log_in(self, user: str) -> str:
        """Log in as ``user``; the CSRF token of the console page."""
        async with self.client.get("/console/login") as response:
            form = re.search(r'name="csrf" value="([^"]+)"', await response.text())
        assert form is not None
        data = {"user": user, "password": PASSWORDS[user], "csrf": form.group(1)}
        async with self.client.post("/console/login", data=data) as response:
            page = await response.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert response.status == 200 and csrf is not None
        return csrf.group(1)

    async def change(self, number: int, data: dict[str, str]) -> int:
        url = f"/console/problems/{number}/state"
        async with self.client.post(url, data=data, allow_redirects=False) as response:
            return response.status

    async def open_count(self) -> float:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with self.client.get("/metrics", headers=auth) as response:
            text = await response.text()
        (family,) = [f for f in text_string_to_metric_families(text)
                     if f.name == "edge_problem_reports_open"]  # fmt: skip
        return family.samples[0].value

    async def row(self, reference: str) -> str:
        async with self.client.get("/console") as response:
            page = await response.text()
        found = re.search(rf'<tr data-problem="{reference}">(.*?)</tr>', page)
        assert found is not None
        return found.group(1)

    def stored(self, number: int) -> tuple[Any, ...]:
        with sqlite3.connect(self.path) as conn:
            row = conn.execute(
                "SELECT state, changed_by, changed_at_s, note FROM problem_reports"
                " WHERE number = ?",
                (number,),
            ).fetchone()
        return tuple(row)


def web_settings(tmp_path: Path) -> WebSettings:
    (tmp_path / "token").write_text(TOKEN)
    accounts = {}
    for user, role in (("ops", "operator"), ("viv", "viewer")):
        (tmp_path / user).write_text(hash_password(PASSWORDS[user]))
        accounts[user] = {"role": role, "password_hash_file": str(tmp_path / user)}
    for name in ("token", "ops", "viv"):
        (tmp_path / name).chmod(0o600)
    return WebSettings.model_validate(
        {"api_tokens": {"grafana": {"token_file": str(tmp_path / "token")}}, "accounts": accounts}
    )


async def two_reports(desk: ProblemDesk) -> list[int]:
    """A cable and a damage report filed for wb1:1: their numbers."""
    numbers = []
    for n, kind in enumerate((ProblemKind.CABLE, ProblemKind.DAMAGED)):
        filed = await desk.file(ProblemReport("wb1:1", kind, f"report {n}", f"sub-{n}"))
        numbers.append(filed.number)
    return numbers


def problems_app(desk: ProblemDesk) -> tuple[DisplayHub, Sources]:
    """What the web app serves the problems of ``desk`` with."""
    hub = DisplayHub(Site(), DisplaySetup("site1"), 1.0)
    return hub, Sources(desk, NoSessions(), {}, NoCommands(), web_command)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    path = tmp_path / "edge.db"
    db = await Database.open(path)
    desk = ProblemDesk(ProblemStore(db), None, clock=lambda: AT_S)
    numbers = await two_reports(desk)
    async with TestClient(
        TestServer(build_app(web_settings(tmp_path), *problems_app(desk)))
    ) as client:
        yield Console(client, path, numbers)
    await db.close()


async def test_an_operator_acknowledges_then_resolves_and_the_open_count_falls(
    console: Console,
) -> None:
    first, second = console.numbers
    assert await console.open_count() == 2
    csrf = await console.log_in("ops")
    ack = {"csrf": csrf, "state": "acknowledged", "note": "Technician\nbooked for Monday"}
    assert await console.change(first, ack) == 303
    assert console.stored(first) == ("acknowledged", "ops", AT_S, "Technician booked for Monday")
    row = await console.row(f"P-{first:06d}")
    assert "<td>acknowledged</td><td>ops</td><td>2026-03-02 07:00</td>" in row
    assert "<td>2026-03-02 07:00 ops acknowledged: Technician booked for Monday</td>" in row
    assert 'value="resolved"' in row and 'value="acknowledged"' not in row
    assert await console.open_count() == 2  # acknowledged is still open
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with console.client.get("/api/v1/problems", headers=auth) as response:
        listed = {p["reference"]: p for p in await response.json()}
    shown = listed[f"P-{first:06d}"]
    assert (shown["state"], shown["handled_by"], shown["handled_at_s"]) == (
        "acknowledged",
        "ops",
        AT_S,
    )
    assert await console.change(first, ack) == 409  # acknowledged once
    done = {"csrf": csrf, "state": "resolved", "note": "Cable replaced"}
    assert await console.change(first, done) == 303
    assert await console.open_count() == 1
    assert console.stored(first) == ("resolved", "ops", AT_S, "Cable replaced")
    row = await console.row(f"P-{first:06d}")
    assert "<td>resolved</td>" in row  # shown, not changeable: only a note may be added
    assert 'value="noted"' in row and 'value="resolved"' not in row
    assert await console.change(first, done) == 409
    note = {"csrf": csrf, "state": "noted", "note": "Invoice sent"}
    assert await console.change(first, note) == 303
    assert await console.change(first, note | {"note": " "}) == 409  # a note needs words
    assert console.stored(first) == ("resolved", "ops", AT_S, "Invoice sent")
    row = await console.row(f"P-{first:06d}")
    assert (
        "<td>2026-03-02 07:00 ops acknowledged: Technician booked for Monday<br>"
        "2026-03-02 07:00 ops resolved: Cable replaced<br>"
        "2026-03-02 07:00 ops noted: Invoice sent</td>"
    ) in row  # every one kept, none overwritten
    async with console.client.get("/api/v1/problems", headers=auth) as response:
        listed = {p["reference"]: p for p in await response.json()}
    assert [(n["action"], n["note"]) for n in listed[f"P-{first:06d}"]["notes"]] == [
        ("acknowledged", "Technician booked for Monday"), ("resolved", "Cable replaced"),
        ("noted", "Invoice sent"),
    ]  # fmt: skip
    assert await console.change(second, {"csrf": csrf, "state": "open"}) == 409
    assert await console.change(99999, done) == 404
    assert console.stored(second) == ("open", None, None, None)


async def test_viewers_stray_posts_and_missing_csrf_change_no_report(console: Console) -> None:
    first, _ = console.numbers
    resolve = {"state": "resolved", "note": "x"}
    assert await console.change(first, resolve) == 401  # no login
    csrf = await console.log_in("viv")
    assert "<form" not in await console.row(f"P-{first:06d}")
    assert await console.change(first, {"csrf": csrf, **resolve}) == 403
    csrf = await console.log_in("ops")
    assert await console.change(first, resolve) == 403  # no CSRF token
    assert await console.change(first, {"csrf": "forged", **resolve}) == 403
    async with console.client.post(
        f"/console/problems/{first}/state", data={"csrf": csrf, **resolve},
        headers={"Origin": "http://elsewhere.example"}, allow_redirects=False,
    ) as response:  # fmt: skip
        assert response.status == 403
    assert console.stored(first) == ("open", None, None, None)
    assert await console.open_count() == 2
