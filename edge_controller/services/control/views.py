"""The control loop's status views of the connectors and the grid meter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edge_controller.domain.balancing import Allocation, ConnectorDemand
from edge_controller.domain.balancing.views import availability
from edge_controller.domain.model import MeterReading
from edge_controller.domain.snapshot import Availability, ConnectorView
from edge_controller.services.control.connector import ConnectorRuntime


def known(conn: ConnectorRuntime) -> bool:
    """Its charger (and built-in meter) has been read once, or the first read ended unanswered;
    before that nothing about the connector is published (it is not "Unavailable" yet)."""
    return conn.status.attempted and (conn.meter is None or conn.meter.attempted)


def connector_views(
    demands: Sequence[ConnectorDemand],
    alloc: Allocation,
    conns: Mapping[str, ConnectorRuntime],
    at_s: float,
) -> tuple[ConnectorView, ...]:
    """The connectors' views; ``at_s`` is wall time."""
    return tuple(_view(d, alloc, conns[d.connector_id], at_s) for d in demands)


def _view(
    d: ConnectorDemand, alloc: Allocation, conn: ConnectorRuntime, at_s: float
) -> ConnectorView:
    reading = conn.meter.fresh() if conn.meter is not None else None
    status = conn.status.fresh()
    return ConnectorView(
        connector_id=d.connector_id,
        availability=_availability(d, alloc, conn.authorized),
        offered_current_a=alloc.current_a(d.connector_id),
        limit_reason=alloc.connectors[d.connector_id].reason,
        measured_current_a=d.measured_current_a or (0.0, 0.0, 0.0),
        power_w=reading.total_power_w if reading is not None else None,
        session_energy_wh=d.session_energy_wh if d.session_start_s is not None else None,
        # What the charger says is wrong (its vendor code in words): drivers, operators and the
        # site's own fault reports read it.
        fault_text=status.fault_text if status is not None else None,
        at_s=at_s,
        status_read_p99_ms=conn.status.latency_p99_ms(),
        meter_reading_age_s=_age_s(conn.meter.age_s()) if conn.meter is not None else None,
    )


def _age_s(age_s: float | None) -> float | None:
    return None if age_s is None else round(age_s, 1)


def grid_fields(reading: MeterReading | None) -> dict[str, Any]:
    """The grid meter's voltage, power and energy for the site view (None before a reading)."""
    if reading is None:
        return {}
    return {
        "grid_voltage_v": reading.voltage_v,
        "grid_power_w": reading.total_power_w,
        "grid_import_energy_wh": reading.import_energy_wh,
        "grid_export_energy_wh": reading.export_energy_wh,
    }


def _availability(demand: ConnectorDemand, alloc: Allocation, authorized: bool) -> Availability:
    seen = availability(demand.state, alloc.current_a(demand.connector_id), demand.enabled)
    # Plugged in but no session yet: OCPP calls that Preparing (a remote start may follow).
    if not authorized and seen is Availability.SUSPENDED_EVSE:
        return Availability.PREPARING
    return seen
