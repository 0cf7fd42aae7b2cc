"""Commands over the REST API (a real aiohttp server), by their resource routes
(``PUT /connectors/<id>/limit``, ``POST /connectors/<id>/start``, ...) and by
``/commands/<name>``: a token sends only the commands its ``allowed_commands`` name, the payload
is checked as MQTT's is, the command reaches the one command port with origin ``web`` (so a
start is authorised like a card's, the port's own rule),
and the port's refusal comes back as a JSON error. The command port here records what reaches it
and answers as told: the real port's rule is tested with the session side
(tests/unit/app, tests/e2e/test_web_api.py drives the real one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app.web import web_command
from edge_controller.config.settings import WebSettings
from edge_controller.domain.commands import (
    Command,
    CommandResult,
    Origin,
    PayAtTerminal,
    SetConnectorEnabled,
    SetConnectorLimit,
    SetSiteLimit,
    StartSession,
    StopSession,
)
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from edge_controller.web import api as rest
from edge_controller.web.openapi import document
from tests.integration.web.test_console_problems import NoSessions
from tests.integration.web.test_console_sessions import NoReports, Site
from tests.openapi_check import check_answer

pytestmark = pytest.mark.integration

TOKENS = {
    "fleet": "fleet-token-0123456789abcdef",
    "grafana": "grafana-token-0123456789abcdef",
    "operator": "operator-token-0123456789abcdef",
}
CONNECTORS = ("wb1:1", "wb1:2")
ALL = ["site_limit", "connector_limit", "connector_enabled", "session_start", "session_stop", "pay"]


@dataclass
class Port:
    """Records the commands that reach it; refuses starts of the id tag ``BLOCKED``; with
    ``held``, answers only once it is set (a payment waiting on the driver)."""

    seen: list[Command] = field(default_factory=list)
    held: asyncio.Event | None = None

    async def decide(self, command: Command) -> CommandResult:
        self.seen.append(command)
        if self.held is not None:
            await self.held.wait()
        if isinstance(command, StartSession) and command.id_tag == "BLOCKED":
            return CommandResult.failure("not authorised (local list: Blocked)")
        return CommandResult.success(getattr(command, "connector_id", None))


def web_settings(tmp_path: Path) -> WebSettings:
    tokens: dict[str, Any] = {}
    for name, token in TOKENS.items():
        (tmp_path / name).write_text(token)
        (tmp_path / name).chmod(0o600)
        tokens[name] = {"token_file": str(tmp_path / name)}
    tokens["fleet"]["allowed_commands"] = ["connector_limit", "session_start", "session_stop"]
    tokens["operator"]["allowed_commands"] = ALL
    return WebSettings.model_validate({"api_tokens": tokens})


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Port]]:
    port = Port()
    hub = DisplayHub(Site(), DisplaySetup("site1", CONNECTORS), 1.0)
    app = build_app(
        web_settings(tmp_path), hub, Sources(NoReports(), NoSessions(), {}, port, web_command)
    )
    async with TestClient(TestServer(app)) as client:
        yield client, port


async def send(
    client: TestClient[Any, Any], name: str, body: Any, token: str | None = "fleet"
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {TOKENS[token]}"} if token else {}
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
    async with client.post(f"/api/v1/commands/{name}", headers=headers, **kwargs) as response:
        return response.status, await response.json()


async def test_allowed_commands_reach_the_command_port_as_web_commands(
    api: tuple[TestClient[Any, Any], Port],
) -> None:
    client, port = api
    status, body = await send(client, "connector_limit", {"connector": "wb1-2", "current_a": 8})
    assert (status, body["ok"], body["connector_id"]) == (200, True, "wb1:2")
    start = {"connector": "wb1:1", "id_tag": "04a1b2c3", "request_id": "r1"}
    status, body = await send(client, "session_start", start)
    assert (status, body["request_id"]) == (200, "r1")
    assert (await send(client, "session_stop", {"connector": "wb1:1"}))[0] == 200
    assert port.seen == [
        SetConnectorLimit("wb1:2", 8.0, Origin.WEB),
        StartSession("wb1:1", "04A1B2C3", Origin.WEB),  # authorised like a card by the port
        StopSession("wb1:1", Origin.WEB),
    ]
    typed = {"connector": "wb1:2", "id_tag": "4711", "key_code": True}
    assert (await send(client, "session_start", typed))[0] == 200
    assert port.seen[-1] == StartSession("wb1:2", "4711", Origin.WEB, key_code=True)
    assert (await send(client, "session_start", typed | {"key_code": "yes"}))[0] == 400
    status, body = await send(client, "session_start", {"connector": "wb1:1", "id_tag": "BLOCKED"})
    assert (status, body["code"]) == (409, "command_refused")
    assert body["message"] == "not authorised (local list: Blocked)"


async def test_tokens_payloads_and_unknown_commands_are_refused_before_the_port(
    api: tuple[TestClient[Any, Any], Port],
) -> None:
    client, port = api
    limit = {"connector": "wb1:1", "current_a": 8}
    status, body = await send(client, "connector_limit", limit, token=None)
    assert (status, body["code"]) == (401, "unauthorized")
    status, body = await send(client, "connector_limit", limit, token="grafana")  # read-only
    assert (status, body["code"]) == (403, "forbidden")
    assert "web.api_tokens.grafana.allowed_commands" in body["message"]
    status, body = await send(client, "site_limit", {"current_a": 10})  # not in fleet's list
    assert (status, body["code"]) == (403, "forbidden")
    assert (await send(client, "pay", {"connector": "wb1:1"}))[1]["code"] == "forbidden"
    assert (await send(client, "charge", {"connector": "wb1:1"}))[1]["code"] == "unknown_command"
    for bad, why in (
        (b"{not json", "invalid payload"),
        ({"connector": "wb9:1", "current_a": 8}, "unknown connector 'wb9:1'"),
        ({"connector": "wb1:1", "current_a": 3}, "at least 6 A"),
        ({"connector": "wb1:1", "current_a": "8"}, "current_a"),
        ({"connector": "wb1:1", "current_a": 8, "extra": 1}, "extra"),
    ):
        status, body = await send(client, "connector_limit", bad)
        assert (status, body["code"]) == (400, "invalid_command"), bad
        assert why in body["message"], (bad, body)
    status, body = await send(client, "connector_limit", b"x" * (2 * 1024 * 1024))
    assert status == 413
    assert port.seen == []


async def call(
    client: TestClient[Any, Any], method: str, path: str, body: Any = None, token: str = "fleet"
) -> tuple[int, dict[str, Any]]:
    """One request to a resource route; its answer is checked against the OpenAPI document."""
    headers = {"Authorization": f"Bearer {TOKENS[token]}"}
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
    if body is None:
        kwargs = {}
    async with client.request(method, f"/api/v1{path}", headers=headers, **kwargs) as response:
        answer = await response.json()
    check_answer(document(), method.lower(), path, response.status, answer)
    return response.status, answer


async def test_resource_routes_send_the_same_commands_as_every_other_entry_point(
    api: tuple[TestClient[Any, Any], Port],
) -> None:
    client, port = api
    for method, path, body in (
        ("PUT", "/site/limit", {"current_a": 25, "request_id": "s1"}),
        ("PUT", "/connectors/wb1:2/limit", {"current_a": 8}),
        ("PUT", "/connectors/wb1:2/limit", {"current_a": None}),
        ("POST", "/connectors/wb1:1/disable", None),
        ("POST", "/connectors/wb1:1/enable", {"request_id": "e1"}),
        ("POST", "/connectors/wb1:1/start", {"id_tag": "04a1b2c3"}),
        ("POST", "/connectors/wb1:1/stop", b""),
        ("POST", "/connectors/wb1:2/pay", None),
    ):
        status, answer = await call(client, method, path, body, token="operator")
        assert (status, answer["ok"]) == (200, True), (path, answer)
        given = body if isinstance(body, dict) else {}
        assert answer["request_id"] == given.get("request_id")
    assert port.seen == [
        SetSiteLimit(25.0, Origin.WEB),
        SetConnectorLimit("wb1:2", 8.0, Origin.WEB),
        SetConnectorLimit("wb1:2", None, Origin.WEB),
        SetConnectorEnabled("wb1:1", False, Origin.WEB),
        SetConnectorEnabled("wb1:1", True, Origin.WEB),
        StartSession("wb1:1", "04A1B2C3", Origin.WEB),  # authorised like a card by the port
        StopSession("wb1:1", Origin.WEB),
        PayAtTerminal("wb1:2", Origin.WEB),
    ]
    status, answer = await call(client, "POST", "/connectors/wb1:1/start", {"id_tag": "BLOCKED"})
    assert (status, answer["code"]) == (409, "command_refused")
    by_name = await send(client, "session_start", {"connector": "wb1:1", "id_tag": "BLOCKED"})
    assert by_name == (status, answer)  # the same answer by either route


async def test_resource_routes_refuse_tokens_connectors_and_bodies_before_the_port(
    api: tuple[TestClient[Any, Any], Port],
) -> None:
    client, port = api
    for method, path, body, wanted, why in (
        ("PUT", "/site/limit", {"current_a": 25}, 403, "allowed_commands"),
        ("POST", "/connectors/wb1:1/disable", None, 403, "connector_enabled"),
        ("POST", "/connectors/wb1:1/pay", None, 403, "'pay'"),
        ("PUT", "/connectors/wb9:1/limit", {"current_a": 8}, 404, "wb9:1"),
        ("POST", "/connectors/wb1-1/stop", None, 404, "wb1-1"),
        ("PUT", "/connectors/wb1:1/limit", None, 400, "not JSON"),
        ("PUT", "/connectors/wb1:1/limit", b"{not json", 400, "not JSON"),
        ("PUT", "/connectors/wb1:1/limit", [8], 400, "JSON object"),
        ("PUT", "/connectors/wb1:1/limit", {"current_a": 3}, 400, "at least 6 A"),
        ("PUT", "/connectors/wb1:1/limit", {"current_a": 8, "connector": "wb1:2"}, 400,
         "given by the path"),
        ("POST", "/connectors/wb1:1/start", {}, 400, "id_tag"),
        ("POST", "/connectors/wb1:1/start", {"id_tag": "a b"}, 400, "id_tag"),
        ("POST", "/connectors/wb1:1/stop", {"reason": "x"}, 400, "reason"),
    ):  # fmt: skip
        status, answer = await call(client, method, path, body)
        assert status == wanted and why in answer["message"], (path, body, answer)
    async with client.put("/api/v1/site/limit", json={"current_a": 1}) as response:
        assert response.status == 401
    async with client.get(
        "/api/v1/site/limit", headers={"Authorization": f"Bearer {TOKENS['fleet']}"}
    ) as response:
        assert response.status == 405
    assert port.seen == []


async def test_a_late_answer_is_a_timeout_but_a_payment_waits_for_the_driver(
    api: tuple[TestClient[Any, Any], Port], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, port = api
    monkeypatch.setattr(rest, "COMMAND_TIMEOUT_S", 0.2)
    port.held = asyncio.Event()
    status, answer = await call(client, "PUT", "/connectors/wb1:1/limit", {"current_a": 8})
    assert (status, answer["code"]) == (504, "timeout") and "may still be applied" in answer[
        "message"
    ]
    paying = [
        asyncio.create_task(call(client, "POST", f"/connectors/{CONNECTORS[n % 2]}/pay",
                                 token="operator"))
        for n in range(rest.MAX_PAYMENTS_IN_FLIGHT)
    ]  # fmt: skip
    for _ in range(500):  # every payment reached the port
        if len(port.seen) == 1 + rest.MAX_PAYMENTS_IN_FLIGHT:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # past the command timeout: the payments still wait
    status, answer = await call(client, "POST", "/connectors/wb1:1/pay", token="operator")
    assert (status, answer["code"]) == (503, "busy")
    port.held.set()
    assert {(await task)[0] for task in paying} == {200}
    assert (await call(client, "POST", "/connectors/wb1:1/pay", token="operator"))[0] == 200
