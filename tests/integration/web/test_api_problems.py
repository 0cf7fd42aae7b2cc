"""Problem reports acknowledged, resolved and noted on over the REST API (a real database, a real
aiohttp server): the desk's one rule and records, as the console's, with the token's name as who;
each change published once and queued for the CSMS in the same commit as the console's; the
token's ``allowed_commands`` must name ``problems``; every answer as the OpenAPI document says."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app.problems import ProblemDesk, UplinkRoute
from edge_controller.config.settings import WebSettings
from edge_controller.domain.problems import ProblemHandled
from edge_controller.storage.database import Database
from edge_controller.storage.problems_store import ProblemStore
from edge_controller.web import build_app
from edge_controller.web.openapi import document
from tests.integration.web.test_console_problems import AT_S, Console, problems_app, two_reports
from tests.integration.web.test_console_problems import web_settings as console_settings
from tests.openapi_check import check_answer

pytestmark = pytest.mark.integration

OPS_TOKEN = "ops-app-token-0123456789abcdef"
READER_TOKEN = "reader-token-0123456789abcdef"


@dataclass
class Served:
    console: Console
    told: list[Any]
    woken: list[int]

    async def post(self, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with self.console.client.post(
            f"/api/v1{path}", json=body, headers=headers
        ) as response:
            found = await response.json()
        check_answer(document(), "post", path, response.status, found)
        return response.status, found

    def queued(self) -> list[tuple[str, str]]:
        with sqlite3.connect(self.console.path) as conn:
            rows = conn.execute("SELECT identity, body FROM outbox ORDER BY seq").fetchall()
        return [(str(i), str(p)) for i, p in rows]


def settings(tmp_path: Path) -> WebSettings:
    base = console_settings(tmp_path).model_dump()
    tokens = {}
    for name, token, allowed in (
        ("ops-app", OPS_TOKEN, ["problems"]),
        ("reader", READER_TOKEN, []),
    ):
        path = tmp_path / f"{name}.token"
        path.write_text(token)
        path.chmod(0o600)
        tokens[name] = {"token_file": str(path), "allowed_commands": allowed}
    accounts = {
        user: {"role": a["role"], "password_hash_file": str(tmp_path / user)}
        for user, a in base["accounts"].items()
    }
    return WebSettings.model_validate({"api_tokens": tokens, "accounts": accounts})


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    path = tmp_path / "edge.db"
    db = await Database.open(path)
    told: list[Any] = []
    woken: list[int] = []
    uplink = UplinkRoute(lambda cid: "cp1", lambda: woken.append(1))
    desk = ProblemDesk(ProblemStore(db), told.append, uplink, clock=lambda: AT_S)
    numbers = await two_reports(desk)
    async with TestClient(TestServer(build_app(settings(tmp_path), *problems_app(desk)))) as client:
        yield Served(Console(client, path, numbers), told, woken)
    await db.close()


async def test_the_api_and_the_console_change_reports_by_one_rule_with_the_same_records(
    served: Served,
) -> None:
    first, second = served.console.numbers
    ref = f"P-{first:06d}"
    csrf = await served.console.log_in("ops")
    before = len(served.queued())
    assert await served.console.change(first, {"csrf": csrf, "state": "acknowledged",
                                               "note": "Technician booked"}) == 303  # fmt: skip
    status, shown = await served.post(f"/problems/{ref}/resolve", OPS_TOKEN,
                                      {"note": "Cable\nreplaced"})  # fmt: skip
    assert status == 200
    assert (shown["reference"], shown["state"]) == (ref, "resolved")
    assert shown["handled_by"] == "token:ops-app"
    assert [(n["action"], n["by"], n["note"]) for n in shown["notes"]] == [
        ("acknowledged", "ops", "Technician booked"),
        ("resolved", "token:ops-app", "Cable replaced"),
    ]
    assert served.console.stored(first) == ("resolved", "token:ops-app", AT_S, "Cable replaced")
    row = await served.console.row(ref)  # both changes shown, first first
    assert "ops acknowledged: Technician booked<br>2026-03-02 07:00 token:ops-app resolved" in row
    status, shown = await served.post(f"/problems/{ref}/notes", OPS_TOKEN, {"note": "Invoiced"})
    assert status == 200 and shown["state"] == "resolved" and shown["note"] == "Invoiced"
    # Each change told once on MQTT, and queued for the CSMS: the console's and the API's alike.
    changes = [t for t in served.told if isinstance(t, ProblemHandled)]
    assert [(c.reference, c.done, c.by, c.note) for c in changes] == [
        (ref, "acknowledged", "ops", "Technician booked"),
        (ref, "resolved", "token:ops-app", "Cable replaced"),
        (ref, "noted", "token:ops-app", "Invoiced"),
    ]
    queued = served.queued()[before:]
    assert len(queued) == 3 and {identity for identity, _ in queued} == {"cp1"}
    assert ["token:ops-app" in p for _, p in queued] == [False, True, True]
    assert len(served.woken) == 2 + 3  # the two reports, then each change
    # The same rule refuses the same way on both entry points.
    status, refused = await served.post(f"/problems/{ref}/resolve", OPS_TOKEN)
    assert (status, refused["code"]) == (409, "change_refused")
    assert refused["message"] == "the report is resolved already"
    assert await served.console.change(first, {"csrf": csrf, "state": "resolved"}) == 409
    status, _ = await served.post(f"/problems/P-{second:06d}/acknowledge", OPS_TOKEN)
    assert status == 200
    assert served.console.stored(second)[:2] == ("acknowledged", "token:ops-app")
    assert len(served.queued()) == before + 4


@pytest.mark.parametrize(
    "case",
    [
        ("/problems/{ref}/resolve", None, None, 401, "unauthorized"),
        ("/problems/{ref}/resolve", "wrong-token-0123456789abcdef", None, 401, "unauthorized"),
        ("/problems/{ref}/resolve", READER_TOKEN, None, 403, "forbidden"),
        ("/problems/P-999999/resolve", OPS_TOKEN, None, 404, "unknown_problem"),
        ("/problems/42/resolve", OPS_TOKEN, None, 404, "unknown_problem"),
        ("/problems/{ref}/resolve", OPS_TOKEN, {"note": 5}, 400, "invalid_body"),
        ("/problems/{ref}/resolve", OPS_TOKEN, {"state": "open"}, 400, "invalid_body"),
        ("/problems/{ref}/resolve", OPS_TOKEN, ["note"], 400, "invalid_body"),
        ("/problems/{ref}/notes", OPS_TOKEN, None, 400, "invalid_body"),
        ("/problems/{ref}/notes", OPS_TOKEN, {"note": "  "}, 409, "change_refused"),
    ],
)
async def test_wrong_tokens_references_and_bodies_change_nothing(
    served: Served, case: tuple[str, str | None, Any, int, str]
) -> None:
    path, token, body, status, code = case
    first, _ = served.console.numbers
    before = (served.queued(), len(served.told))
    got, answer = await served.post(path.format(ref=f"P-{first:06d}"), token, body)
    assert (got, answer["code"]) == (status, code)
    assert served.console.stored(first) == ("open", None, None, None)
    assert (served.queued(), len(served.told)) == before
