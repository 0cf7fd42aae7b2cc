"""``/metrics`` has the control loop's overload reaction histogram (a real aiohttp server): its
buckets, count and sum are the loop's own histogram's, read at each scrape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from edge_controller.app.web import web_command
from edge_controller.domain.latency import Histogram
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from tests.integration.web.test_console_sessions import TOKEN, NoCommands, NoReports, web_settings
from tests.unit.web.test_routes import NoSessions, Site

pytestmark = pytest.mark.integration


async def scrape(client: TestClient[Any, Any], name: str) -> dict[tuple[str, str], float]:
    async with client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 200
        text = await response.text()
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == name]
    assert family.type == "histogram"
    return {(s.name, s.labels.get("le", "")): s.value for s in family.samples}


async def test_the_reaction_histogram_is_the_control_loops(tmp_path: Path) -> None:
    reactions = Histogram()
    sources = Sources(NoReports(), NoSessions(), {}, NoCommands(), web_command, reactions=reactions)
    hub = DisplayHub(Site(), DisplaySetup("s"), 1.0)
    async with TestClient(TestServer(build_app(web_settings(tmp_path), hub, sources))) as client:
        empty = await scrape(client, "edge_control_reaction_seconds")
        assert empty[("edge_control_reaction_seconds_count", "")] == 0
        for value_s in (0.03, 0.08, 0.2, 0.2, 1.7):
            reactions.observe(value_s)
        found = await scrape(client, "edge_control_reaction_seconds")
    buckets = {le: v for (name, le), v in found.items() if name.endswith("_bucket")}
    assert buckets == {
        "0.025": 0, "0.05": 1, "0.1": 2, "0.25": 4, "0.5": 4, "1.0": 4, "2.5": 5, "5.0": 5,
        "+Inf": 5,
    }  # fmt: skip
    assert [(float(le), int(v)) for le, v in buckets.items()] == reactions.cumulative()
    assert found[("edge_control_reaction_seconds_count", "")] == 5
    assert found[("edge_control_reaction_seconds_sum", "")] == pytest.approx(2.21)
