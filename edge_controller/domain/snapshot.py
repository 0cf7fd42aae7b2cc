"""Read-only views of the live state for the status surfaces (MQTT, CLI status, OCPP status).

Producers (site controller, session manager, pollers, buses) publish new snapshots; consumers
never drive state through them. Every point in time in a view (``at_s``, ``last_success_s``) is
UTC wall time in Unix seconds: people and other programs read these. The monotonic clock the
control loop runs on stays inside it; a duration (``grid_reading_age_s``) is a plain number of
seconds.

A view holds only what has been read: a connector appears once its charger has been read (or its
first read has timed out), a device once it has been asked, the headroom once every device of
the control loop has (``waiting_for`` names those still to come).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from edge_controller.domain.model import Phases3


class Availability(enum.Enum):
    """Connector availability, named as OCPP 1.6 ChargePointStatus names it."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


@dataclass(frozen=True, slots=True)
class ConnectorView:
    connector_id: str
    availability: Availability
    offered_current_a: float
    limit_reason: str
    measured_current_a: Phases3 = (0.0, 0.0, 0.0)
    power_w: float | None = None  # what the charger's meter reports; None: no fresh reading
    session_energy_wh: float | None = None
    session_id: str | None = None
    id_tag: str | None = None
    fault_text: str | None = None
    at_s: float = 0.0  # wall time of the control loop step this view comes from
    reservation_id: int | None = None  # the reservation holding this connector, if any
    # 99th percentile of one status read of this connector, from asking until the answer,
    # waiting for its bus included (a device's own latency_p99_ms is one bus transaction).
    status_read_p99_ms: float | None = None
    # How old its built-in meter's latest reading is (s; None: never read, or no meter): a
    # meter that stopped answering is asked ever more seldom while the charger answers.
    meter_reading_age_s: float | None = None
    # An authorisation waiting for an EV here: whose (masked id tag) and until when (UTC s).
    plug_wait_token: str | None = None
    plug_wait_until_s: float | None = None
    status_info: str | None = None  # why the last start here was given up (short, plain words)
    # The price of a session starting now and the running session's cost so far, as
    # ``domain.pricing.codec`` shows them (amounts as decimal strings); None: no tariff.
    price: dict[str, Any] | None = None
    running_cost: dict[str, Any] | None = None
    # What the CSMS calculated (central cost), shown as sent: its cost and its price text for
    # the session's driver (``domain.pricing.central``); None: it sent nothing.
    csms_cost: dict[str, Any] | None = None
    session_started_s: float | None = None  # wall time the open session started (UTC s)
    # The local id of the connector's open transaction (OCPP 2.x): its session's, or one begun
    # before its session (TxStartPoint) or going on after it (TxStopPoint); None: none open.
    transaction_id: str | None = None

    def with_session(
        self,
        *,
        availability: Availability,
        reservation_id: int | None,
        session_id: str | None,
        id_tag: str | None,
        session_started_s: float | None,
        transaction_id: str | None,
        plug_wait_token: str | None,
        plug_wait_until_s: float | None,
        status_info: str | None,
        price: dict[str, Any] | None = None,
        running_cost: dict[str, Any] | None = None,
        csms_cost: dict[str, Any] | None = None,
    ) -> ConnectorView:
        """This view with the session side's fields, each of them (a price not given: none):
        ``dataclasses.replace`` at about half its cost (every connector's view is joined at
        every control step). Every other field is carried over; a test checks that none is
        left out."""
        return ConnectorView(
            self.connector_id, availability, self.offered_current_a, self.limit_reason,
            self.measured_current_a, self.power_w, self.session_energy_wh, session_id, id_tag,
            self.fault_text, self.at_s, reservation_id, self.status_read_p99_ms,
            self.meter_reading_age_s, plug_wait_token, plug_wait_until_s, status_info, price,
            running_cost, csms_cost, session_started_s, transaction_id,
        )  # fmt: skip

    def with_session_of(self, joined: ConnectorView) -> ConnectorView:
        """This view with the session side's fields of ``joined``, an earlier join of the
        same connector whose session side has not changed since (``with_session``)."""
        return self.with_session(
            availability=joined.availability, reservation_id=joined.reservation_id,
            session_id=joined.session_id, id_tag=joined.id_tag,
            session_started_s=joined.session_started_s, transaction_id=joined.transaction_id,
            plug_wait_token=joined.plug_wait_token, plug_wait_until_s=joined.plug_wait_until_s,
            status_info=joined.status_info, price=joined.price, running_cost=joined.running_cost,
            csms_cost=joined.csms_cost,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """What the OCPP identities look at of a connector every second: its status as shown, its
    open session and what is wrong or why a start was given up (``ConnectorView``'s fields of
    the same names). Made without the prices or a copy of the whole view, so an identity that
    finds nothing changed has cost next to nothing."""

    connector_id: str
    availability: Availability
    session_id: str | None = None
    fault_text: str | None = None
    status_info: str | None = None

    @classmethod
    def of(cls, view: ConnectorView) -> ConnectorState:
        return cls(
            view.connector_id, view.availability, view.session_id, view.fault_text,
            view.status_info,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """One error of a device as its driver counted it (a failed request, a reader gone, ...;
    time: the driver's wall clock)."""

    at_s: float
    kind: str  # the key it is counted under in DeviceView.errors
    message: str


@dataclass(frozen=True, slots=True)
class DeviceView:
    """One device on a bus (one row per Modbus unit or reader), as its bus sees it."""

    device_id: str
    available: bool  # it answers (an exception reply is an answer: see fault_text)
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency_p50_ms: float | None = None  # one bus transaction, on the wire
    latency_p99_ms: float | None = None
    last_success_s: float | None = None  # wall time of the last answered request
    fault_text: str | None = None  # what is wrong with its answers now, if anything


@dataclass(frozen=True, slots=True)
class GatewayFault:
    """Something wrong between gateways sharing a grid connection that an operator must fix (a
    config that disagrees with the other side's, a child that hears no parent); ``key`` stays
    the same while it lasts."""

    key: str
    text: str


@dataclass(frozen=True, slots=True)
class ChildView:
    """A child gateway as its parent sees it: how long ago its latest demand arrived (None:
    none since the parent started), the budget handed it while its lease lasts (None: none in
    force), what the parent counts it at per grid phase, and whether it is lost (no demand
    within ``report_stale_s``: it gets no budget, counted as it may draw on its own)."""

    child_id: str
    report_age_s: float | None
    budget_a: Phases3 | None
    counted_a: Phases3
    lost: bool


@dataclass(frozen=True, slots=True)
class SiteView:
    site_id: str
    grid_current_a: Phases3 | None
    grid_limit_a: float
    headroom_a: Phases3 | None
    grid_reading_age_s: float | None
    connectors: tuple[ConnectorView, ...] = ()
    devices: tuple[DeviceView, ...] = ()
    uplink_online: bool = False
    outbox_backlog: int = 0
    outbox_parked: int = 0  # refused by the CSMS past their attempts; an operator decides
    payments_unknown: int = 0  # card pre-authorisations a crash left without an outcome
    at_s: float = 0.0  # wall time of the control loop step this view comes from
    # The grid meter's latest reading besides its currents, in grid phase order (None: none).
    grid_voltage_v: Phases3 | None = None
    grid_power_w: float | None = None  # total active power, negative while the site exports
    grid_import_energy_wh: float | None = None
    grid_export_energy_wh: float | None = None
    waiting_for: tuple[str, ...] = ()  # devices of the control loop not read once yet
    storage_alarm: str | None = None  # the database file was removed or replaced under us
    # What holds for the whole site's allocation now ("grid meter stale", "settling after a
    # decrease": increases and starts wait while lowered EVs follow); each connector's own
    # reason is in its view.
    allocation_notes: tuple[str, ...] = ()
    gateway_faults: tuple[GatewayFault, ...] = ()  # a parent's or a child gateway's
    gateway_children: tuple[ChildView, ...] = ()  # a parent's children
