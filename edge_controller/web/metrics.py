"""``/metrics`` in Prometheus' text format, behind an API token. The figures and their format
are in ``web.prometheus``, imported at the first scrape."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from edge_controller.domain.latency import Histogram
from edge_controller.domain.snapshot import SiteView
from edge_controller.web.api import error, token_name
from edge_controller.web.ports import ProblemDesk

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

_PROMETHEUS = "edge_controller.web.prometheus"
# (bus id, device id, that device's answered-request durations) for each device asked so far.
BusLatency = Callable[[], Iterable[tuple[str, str, Histogram]]]


class MetricsRoute:
    """``GET /metrics``: needs an API token like ``/api/v1`` (Prometheus: ``authorization``
    with ``credentials_file``)."""

    def __init__(
        self,
        view: Callable[[], SiteView],
        desk: ProblemDesk,
        tokens: Mapping[str, str],
        reactions: Histogram | None = None,
        bus_latency: BusLatency | None = None,
    ) -> None:
        self._desk, self._tokens = desk, dict(tokens)
        self._open = 0
        self._view, self._reactions, self._bus_latency = view, reactions, bus_latency
        self._registry: CollectorRegistry | None = None

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/metrics", self.metrics)

    async def metrics(self, request: web.Request) -> web.Response:
        if token_name(request, self._tokens) is None:
            response = error(401, "unauthorized", "a valid API token is needed")
            response.headers["WWW-Authenticate"] = 'Bearer realm="edge-controller"'
            return response
        self._open = await self._desk.open_count()
        if _PROMETHEUS not in sys.modules:
            # Loading prometheus_client takes some 70 ms: on the event loop it would hold the
            # control loop that long, off it only for the interpreter's switch interval.
            await asyncio.to_thread(importlib.import_module, _PROMETHEUS)
        from edge_controller.web import prometheus  # at the first scrape (its docstring)

        if self._registry is None:
            collector = prometheus.SiteCollector(
                self._view, lambda: self._open, self._reactions, self._bus_latency
            )
            self._registry = prometheus.registry(collector)
        body = prometheus.generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": prometheus.CONTENT_TYPE_LATEST})
