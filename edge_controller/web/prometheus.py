"""The site's figures in Prometheus' text format (prometheus_client), for ``/metrics``
(``web.metrics``). Every figure is read from the site's status view when scraped, so the
metrics and the view cannot disagree; nothing here is counted twice. The bus counters are the
buses' own totals since the start.

Imported at the first scrape: prometheus_client and the HTTP server modules it loads are about
2 MB of objects a site nobody scrapes never needs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from edge_controller.domain.latency import Histogram
from edge_controller.domain.snapshot import Availability, SiteView
from edge_controller.web.metrics import BusLatency

PHASES = ("L1", "L2", "L3")


class SiteCollector(Collector):
    def __init__(
        self,
        view: Callable[[], SiteView],
        open_problems: Callable[[], int],
        reactions: Histogram | None = None,
        bus_latency: BusLatency | None = None,
    ) -> None:
        self._view, self._open_problems, self._reactions = view, open_problems, reactions
        self._bus_latency = bus_latency

    def collect(self) -> Iterator[Metric]:
        view = self._view()
        yield from _connectors(view)
        yield from _grid(view)
        yield from _devices(view)
        uplink = GaugeMetricFamily("edge_uplink_online", "1 while the CSMS connection is up")
        uplink.add_metric([], 1.0 if view.uplink_online else 0.0)
        backlog = GaugeMetricFamily("edge_outbox_backlog", "messages waiting for the CSMS")
        backlog.add_metric([], float(view.outbox_backlog))
        parked = GaugeMetricFamily(
            "edge_outbox_parked", "messages the CSMS refused past their attempts, kept"
        )
        parked.add_metric([], float(view.outbox_parked))
        unknown = GaugeMetricFamily(
            "edge_payments_unknown", "card payments whose outcome is unknown (check the terminal)"
        )
        unknown.add_metric([], float(view.payments_unknown))
        problems = GaugeMetricFamily("edge_problem_reports_open", "problem reports not resolved")
        problems.add_metric([], float(self._open_problems()))
        yield from (uplink, backlog, parked, unknown, problems)
        if self._reactions is not None:
            yield _reaction(self._reactions)
        if self._bus_latency is not None:
            yield _bus_requests(self._bus_latency())


def _reaction(histogram: Histogram) -> Metric:
    """The control loop's overload reactions: from the grid reading that showed an overload to
    the last lowered setpoint written (the loop's ``setpoints lowered`` lines)."""
    family = HistogramMetricFamily(
        "edge_control_reaction_seconds", "overload reading to lowered setpoints written"
    )
    family.add_metric([], _buckets(histogram), histogram.sum_s)
    return family


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    return [("+Inf" if b == float("inf") else repr(b), n) for b, n in histogram.cumulative()]


def _bus_requests(per_device: Iterable[tuple[str, str, Histogram]]) -> Metric:
    """Every answered bus request's duration (its count: the device's requests less its
    errors); the p50/p99 gauges cover only the latest few hundred."""
    family = HistogramMetricFamily(
        "edge_bus_request_seconds", "one answered bus transaction", labels=["bus", "device"]
    )
    for bus_id, device_id, histogram in per_device:
        family.add_metric([bus_id, device_id], _buckets(histogram), histogram.sum_s)
    return family


def _connectors(view: SiteView) -> Iterator[Metric]:
    labels = ["connector"]
    offered = GaugeMetricFamily(
        "edge_connector_offered_current_amperes", "current offered per phase", labels=labels
    )
    measured = GaugeMetricFamily(
        "edge_connector_current_amperes", "measured current", labels=[*labels, "phase"]
    )
    power = GaugeMetricFamily("edge_connector_power_watts", "active power", labels=labels)
    energy = GaugeMetricFamily(
        "edge_connector_session_energy_watthours", "energy of the running session", labels=labels
    )
    state = GaugeMetricFamily(
        "edge_connector_state", "1 for the connector's state", labels=[*labels, "state"]
    )
    for c in view.connectors:
        cid = [c.connector_id]
        offered.add_metric(cid, c.offered_current_a)
        for phase, amps in zip(PHASES, c.measured_current_a, strict=True):
            measured.add_metric([*cid, phase], amps)
        if c.power_w is not None:
            power.add_metric(cid, c.power_w)
        if c.session_energy_wh is not None:
            energy.add_metric(cid, c.session_energy_wh)
        for a in Availability:
            state.add_metric([*cid, a.value], 1.0 if c.availability is a else 0.0)
    yield from (offered, measured, power, energy, state)


def _grid(view: SiteView) -> Iterator[Metric]:
    limit = GaugeMetricFamily("edge_grid_limit_amperes", "grid connection limit per phase")
    limit.add_metric([], view.grid_limit_a)
    yield limit
    for name, values, what in (
        ("edge_grid_current_amperes", view.grid_current_a, "grid current"),
        ("edge_grid_headroom_amperes", view.headroom_a, "room left under the limits"),
    ):
        family = GaugeMetricFamily(name, what, labels=["phase"])
        for phase, amps in zip(PHASES, values or (), strict=False):
            family.add_metric([phase], amps)
        yield family
    if view.grid_power_w is not None:
        power = GaugeMetricFamily("edge_grid_power_watts", "grid active power (negative: export)")
        power.add_metric([], view.grid_power_w)
        yield power


def _devices(view: SiteView) -> Iterator[Metric]:
    labels = ["device"]
    requests = CounterMetricFamily("edge_bus_requests", "requests sent", labels=labels)
    errors = CounterMetricFamily(
        "edge_bus_errors", "failed requests and unusable replies", labels=[*labels, "kind"]
    )
    up = GaugeMetricFamily(
        "edge_device_available", "1 while the device answers usably", labels=labels
    )
    latency = GaugeMetricFamily(
        "edge_bus_latency_seconds", "one bus transaction", labels=[*labels, "quantile"]
    )
    for d in view.devices:
        requests.add_metric([d.device_id], float(d.requests))
        for kind, count in d.errors.items():
            errors.add_metric([d.device_id, kind], float(count))
        up.add_metric([d.device_id], 1.0 if d.available else 0.0)
        for quantile, ms in (("0.5", d.latency_p50_ms), ("0.99", d.latency_p99_ms)):
            if ms is not None:
                latency.add_metric([d.device_id, quantile], ms / 1000)
    yield from (requests, errors, up, latency)


def registry(collector: SiteCollector) -> CollectorRegistry:
    found = CollectorRegistry(auto_describe=False)
    found.register(collector)
    return found


__all__ = ["CONTENT_TYPE_LATEST", "SiteCollector", "generate_latest", "registry"]
