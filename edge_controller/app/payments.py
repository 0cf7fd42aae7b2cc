"""The card terminals of the ``payments`` section: one ZVT driver and one payment flow each.

The driver, the flows and their store are imported when a terminal is configured: a site
without one (most) would hold them (0.4 MB of objects) for nothing."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from edge_controller.config.settings import PaymentTerminalSettings, Settings
from edge_controller.domain.payments import NoTariff, tariff_cap
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.database import Database

if TYPE_CHECKING:
    from edge_controller.drivers.payment.zvt import ZvtTerminal
    from edge_controller.services.payments import CostCap, CostLimits, PaymentFlow, RunningCost
    from edge_controller.services.payments.auto_arm import AutoArm, Pay, Waiting
    from edge_controller.services.payments.limits import Stop
    from edge_controller.storage.payments_store import SettlementOutbox


def zvt_terminal(terminal: PaymentTerminalSettings) -> ZvtTerminal:
    from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal

    password = terminal.password.get_secret_value() if terminal.password is not None else "0"
    return ZvtTerminal(
        ZvtSettings(
            terminal.host,
            terminal.port,
            password=int(password),
            currency=terminal.currency,
            message_timeout_s=terminal.message_timeout_s,
        )
    )


def max_cost_of(pricing: SessionPricing) -> CostCap:
    """The max cost of the tariff a session starting now on a connector would take; raises
    ``NoTariff`` when none would price it (a CSMS cleared it)."""

    def cap(connector_id: str) -> Money | None:
        found = pricing.tariff_for(connector_id)
        if found is None:
            raise NoTariff(f"{connector_id}: no tariff prices a session here; card payment refused")
        return tariff_cap(found[0])

    return cap


def payment_flows(
    settings: Settings,
    db: Database,
    pricing: SessionPricing | None = None,
    outbox: SettlementOutbox | None = None,
) -> dict[str, PaymentFlow]:
    """A flow per configured terminal, by terminal id (empty without a ``payments`` section);
    ``outbox``: where settlements go to the CSMS (None: no uplink)."""
    if not settings.payments.terminals:
        return {}
    from edge_controller.services.payments import PaymentFlow, TerminalPlace
    from edge_controller.storage.payments_store import PaymentStore

    store = PaymentStore(db, outbox)
    cap = max_cost_of(pricing) if pricing is not None else None
    flows = {}
    for terminal_id, terminal in settings.payments.terminals.items():
        reserve = Money(terminal.pre_authorisation_amount, Currency.of(terminal.currency))
        closing = terminal.end_of_day_at
        place = TerminalPlace(
            terminal_id, reserve, plug_timeout_s=terminal.plug_timeout_s,
            end_of_day=None if closing is None else (closing, settings.site.zone),
        )  # fmt: skip
        flows[terminal_id] = PaymentFlow(place, zvt_terminal(terminal), store, time.time, cap)
    return flows


def connector_flows(settings: Settings, flows: dict[str, PaymentFlow]) -> dict[str, PaymentFlow]:
    """The flow of the terminal serving each connector (the config names one per connector)."""
    return {
        cid: flows[tid] for tid, t in settings.payments.terminals.items() for cid in t.connectors
    }


def auto_arms(
    settings: Settings, flows: dict[str, PaymentFlow], pay: Pay, waiting: Waiting
) -> dict[str, AutoArm]:
    """A self-arming service per terminal with ``auto_arm`` on, by terminal id."""
    if not any(t.auto_arm for t in settings.payments.terminals.values()):
        return {}
    from edge_controller.services.payments.auto_arm import AutoArm

    return {
        tid: AutoArm(t.connectors, flows[tid], pay, waiting)
        for tid, t in settings.payments.terminals.items()
        if t.auto_arm
    }


def running_cost_of(pricing: SessionPricing) -> RunningCost:
    """The open session's cost on a connector, tax included, now and at its next reading."""
    return pricing.outlook


def cost_limits(db: Database, pricing: SessionPricing, stop: Stop) -> CostLimits:
    """Stops each paid session at its pre-authorised amount."""
    from edge_controller.services.payments import CostLimits
    from edge_controller.storage.payments_store import PaymentStore

    return CostLimits(PaymentStore(db), running_cost_of(pricing), stop)
