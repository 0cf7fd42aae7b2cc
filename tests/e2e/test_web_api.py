"""The REST API and /metrics on the real daemon: tokens, JSON errors, the OpenAPI document
against what is served, and every figure held against its source (the status socket, the
database, the simulator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_controller.domain.sessions.tokens import masked
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.site import CONNECTORS, FREE_TAG
from tests.openapi_check import check_answer
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]

TOKEN = "grafana-token-0123456789abcdef"


def api_config(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    token_file = tmp_path / "grafana.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    config["web"] = {
        "enabled": True,
        "port": free_port(),
        "api_tokens": {"grafana": {"token_file": str(token_file)}},
    }
    return config


class Api:
    def __init__(self, http: aiohttp.ClientSession, config: dict[str, Any]) -> None:
        self.http, self.base = http, f"http://127.0.0.1:{config['web']['port']}"

    async def get(self, path: str, token: str | None = TOKEN) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.get(self.base + path, headers=headers) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def checked(self, path: str) -> Any:
        """A GET answered 200, held against the OpenAPI document the daemon serves."""
        _, doc = await self.get("/api/v1/openapi.json", token=None)
        status, body = await self.get(f"/api/v1{path}")
        assert status == 200, (path, body)
        check_answer(doc, "get", path, status, body)
        return body


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_tokens_errors_and_the_openapi_document_match_what_is_served(
    launch: Launch, config: dict[str, Any], tmp_path: Path
) -> None:
    config = api_config(config, tmp_path)
    await launch(config)
    async with aiohttp.ClientSession() as http:
        api = Api(http, config)
        status, doc = await api.get("/api/v1/openapi.json", token=None)
        assert status == 200 and doc["openapi"] == "3.1.0"
        for path, operations in doc["paths"].items():
            concrete = path.replace("{connector_id}", "keba:1").replace("{session_id}", "1")
            for method in set(operations) - {"get"}:  # writes: tested with their tokens below
                async with http.request(method, f"{api.base}/api/v1{concrete}") as response:
                    assert response.status == 401, path
            if "get" not in operations:
                continue
            assert (await api.get(f"/api/v1{concrete}", token=None))[0] == 401, path
            assert (await api.get(f"/api/v1{concrete}", token="x" * 30))[0] == 401, path
            status, body = await api.get(f"/api/v1{concrete}")
            check_answer(doc, "get", concrete, status, body)
            if "{session_id}" in path:  # no session has run yet on this site
                assert (status, body["code"]) == (404, "unknown_session"), path
                continue
            assert status == 200, (path, body)
        status, body = await api.get("/api/v1/state", token=None)
        assert status == 401 and body["code"] == "unauthorized"
        status, body = await api.get("/api/v1/connectors/nope:1")
        assert (status, body["code"]) == (404, "unknown_connector")
        check_answer(doc, "get", "/connectors/nope:1", status, body)
        status, body = await api.get("/api/v1/sessions?limit=0")
        assert status == 400 and "limit must be" in body["message"]
        status, body = await api.get("/api/v1/nothing-here")
        assert (status, body["code"]) == (404, "not_found")
        async with http.put(
            api.base + "/api/v1/connectors/keba:1", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as response:
            assert response.status == 405 and (await response.json())["code"] == (
                "method_not_allowed"
            )
        assert (await api.get("/metrics", token=None))[0] == 401


async def test_connectors_sessions_and_metrics_are_what_their_sources_say(
    launch: Launch, config: dict[str, Any], tmp_path: Path
) -> None:
    config = api_config(config, tmp_path)
    site: E2ESite = await launch(config)
    cid = "hd1:1"
    await site.control.plug(cid, profile="car3")

    async def charging() -> bool:
        view = await site.status()
        return any(c.connector_id == cid and c.availability.value == "Charging"
                   for c in view.connectors)  # fmt: skip

    await eventually(charging, "the EV charges", 60)
    async with aiohttp.ClientSession() as http:
        api = Api(http, config)
        for path in ("/state", f"/connectors/{cid}", "/devices", "/meter", "/problems"):
            await api.checked(path)  # every answer as the document describes it
        connectors = await api.checked("/connectors")
        view = await site.status()
        assert sorted(c["connector_id"] for c in connectors) == sorted(CONNECTORS)
        shown = {c["connector_id"]: c["availability"] for c in connectors}
        assert shown == {c.connector_id: c.availability.value for c in view.connectors}
        limits = await api.checked("/limits")
        assert limits["grid_limit_a"] == config["site"]["grid_limit_a"]
        assert {c["connector_id"]: c["max_current_a"] for c in limits["connectors"]} == {
            c: 16 for c in CONNECTORS
        }
        sessions = await api.checked("/sessions")
        ((local_id, start_s),) = site.query("SELECT local_id, start_at_s FROM sessions")
        assert [(s["session_id"], s["connector_id"], s["id_tag"], s["start_at_s"]) for s in
                sessions] == [(local_id, cid, masked(FREE_TAG), start_s)]  # fmt: skip
        assert FREE_TAG not in str(sessions)

        first = metrics((await api.get("/metrics"))[1])
        await eventually(lambda: _later(site, view.at_s), "a newer snapshot")
        second = metrics((await api.get("/metrics"))[1])
        view = await site.status()
        power = ("edge_connector_power_watts", (("connector", cid),))

        async def power_agrees() -> bool:
            # The metric and the simulated charger are read a moment apart, and the EV may
            # change its draw in between: compare readings taken together until they agree.
            shown = metrics((await api.get("/metrics"))[1])[power]
            drawn_w = await _sim_power_w(site, cid)
            return drawn_w > 0 and shown == pytest.approx(drawn_w, rel=0.2)

        await eventually(power_agrees, "the power metric is what the charger draws", 15)
    state = ("edge_connector_state", (("connector", cid), ("state", "Charging")))
    assert first[state] == second[state] == 1.0
    assert second[("edge_grid_limit_amperes", ())] == 50.0
    assert second[("edge_problem_reports_open", ())] == 0.0
    assert second[("edge_outbox_parked", ())] == 0.0  # read from the database: none refused
    assert second[("edge_payments_unknown", ())] == 0.0
    grid_requests = ("edge_bus_requests_total", (("device", "grid"),))
    assert 0 < first[grid_requests] < second[grid_requests]  # a counter that counts
    grid_device = next(d for d in view.devices if d.device_id == "grid")
    assert second[grid_requests] <= grid_device.requests  # never ahead of the bus itself
    # The histogram is the bus's live count, the counters the latest control step's view:
    # between that view and the later status, answered requests are requests less errors.
    answered = second[("edge_bus_request_seconds_count", (("bus", "rs485"), ("device", "grid")))]
    grid_errors = sum(v for (n, labels), v in second.items()
                      if n == "edge_bus_errors_total" and ("device", "grid") in labels)  # fmt: skip
    assert second[grid_requests] - grid_errors <= answered
    assert answered <= grid_device.requests - sum(grid_device.errors.values())


async def _later(site: E2ESite, at_s: float) -> bool:
    return (await site.status()).at_s > at_s + 1.0


async def _sim_power_w(site: E2ESite, cid: str) -> float:
    """What the simulated charger draws: its phase currents at the simulated voltage."""
    state = await site.state()
    return float(sum(state["connectors"][cid]["drawn_a"]) * state["voltage_v"])


async def test_a_token_limits_and_stops_a_session_by_the_connectors_routes(
    launch: Launch, config: dict[str, Any], tmp_path: Path
) -> None:
    config = api_config(config, tmp_path)
    config["web"]["api_tokens"]["grafana"]["allowed_commands"] = [
        "connector_limit", "session_stop",
    ]  # fmt: skip
    site = await launch(config)
    cid = CONNECTORS[0]
    await site.control.plug(cid, profile="car3")

    async def setpoint() -> float:
        return float((await site.state())["connectors"][cid]["setpoint_a"])

    async def charging() -> bool:
        return await setpoint() > 8.0

    await eventually(charging, "the EV charges above 8 A", 60)
    async with aiohttp.ClientSession() as http:
        api = Api(http, config)
        url = f"{api.base}/api/v1"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        body = {"current_a": 8, "request_id": "l-1"}
        async with http.put(f"{url}/connectors/{cid}/limit", json=body, headers=auth) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
            assert (answer["ok"], answer["request_id"]) == (True, "l-1")

        async def lowered() -> bool:
            return await setpoint() == 8.0

        await eventually(lowered, "the simulated charger's setpoint is 8 A")

        async def named() -> bool:
            found = [c for c in (await site.status()).connectors if c.connector_id == cid]
            return "web" in found[0].limit_reason

        await eventually(named, "the connector's limit reason names the web")
        async with http.post(f"{url}/connectors/{cid}/stop", headers=auth) as r:
            assert r.status == 200, await r.text()

        async def stopped() -> bool:
            found = [c for c in (await site.status()).connectors if c.connector_id == cid]
            return found[0].session_started_s is None

        await eventually(stopped, "the session has stopped")
        ((local_id, start_wh, stop_wh),) = site.query(
            "SELECT local_id, meter_start_wh, meter_stop_wh FROM sessions"
        )
        receipt = await api.checked(f"/sessions/{local_id}/receipt")
        assert receipt["energy"]["energy_wh"] == stop_wh - start_wh  # as stored
        for method, path in (("put", "/site/limit"), ("post", "/commands/site_limit")):
            async with http.request(method, url + path, json={"current_a": 0}, headers=auth) as r:
                assert r.status == 403  # not in this token's allowed_commands
