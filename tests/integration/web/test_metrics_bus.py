"""``/metrics`` has each bus device's request-duration histogram (a real aiohttp server and a
real Modbus TCP peer): its count is what the bus counted (requests less errors) and its buckets
are filled by the requests that were really made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from edge_controller.app.web import bus_latency, web_command
from edge_controller.ports import DeviceFault
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from tests.integration.modbus.test_tcp_faults import Peer, open_meter
from tests.integration.web.test_console_sessions import TOKEN, NoCommands, NoReports, web_settings
from tests.unit.web.test_routes import NoSessions, Site

pytestmark = pytest.mark.integration

NAME = "edge_bus_request_seconds"


async def scrape(client: TestClient[Any, Any]) -> dict[tuple[str, str], float]:
    async with client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 200
        text = await response.text()
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == NAME]
    assert family.type == "histogram"
    found = {}
    for s in family.samples:
        assert (s.labels["bus"], s.labels["device"]) == ("lan", "grid")
        found[s.name, s.labels.get("le", "")] = s.value
    return found


async def test_the_bus_histogram_counts_every_answered_request(peer: Peer, tmp_path: Path) -> None:
    bus, grid = await open_meter(peer.port, retries=0)
    sources = Sources(
        NoReports(), NoSessions(), {}, NoCommands(), web_command,
        bus_latency=bus_latency({"lan": bus}),
    )  # fmt: skip
    hub = DisplayHub(Site(), DisplaySetup("s"), 1.0)
    app = build_app(web_settings(tmp_path), hub, sources)
    async with bus, TestClient(TestServer(app)) as client:
        assert await scrape(client) == {}  # nothing asked yet: no row
        for _ in range(7):
            await grid.read()
        peer.mode = "exception:2"
        with pytest.raises(DeviceFault):
            await grid.read()
        found = await scrape(client)
        (view,) = bus.views()
    assert (view.requests, view.errors) == (8, {"exception_02": 1})
    assert peer.requests == 8
    count = found[f"{NAME}_count", ""]
    assert count == view.requests - sum(view.errors.values()) == 7
    buckets = [(float(le), v) for (name, le), v in found.items() if name == f"{NAME}_bucket"]
    assert buckets[-1] == (float("inf"), 7)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    assert 0 < found[f"{NAME}_sum", ""] == pytest.approx(bus.latency_histograms()[0][1].sum_s)
    # Filled by the same 7 requests the bus's median comes from: the 4th shortest is the median,
    # so a bound below it holds at most 3 and the first bound at or above it at least 4.
    assert view.latency_p50_ms is not None
    median_s = view.latency_p50_ms / 1000
    below = [v for le, v in buckets if le < median_s]
    assert max(below, default=0) <= 3
    assert next(v for le, v in buckets if le >= median_s) >= 4
    assert buckets[-2][1] == 7  # a local peer answers well under the last bound (2.5 s)
