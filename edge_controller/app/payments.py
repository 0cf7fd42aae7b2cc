"""The card terminals of the ``payments`` section: one ZVT driver and one payment flow each."""

from __future__ import annotations

import time

from edge_controller.config.settings import PaymentTerminalSettings, Settings
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.services.payments import PaymentFlow, TerminalPlace
from edge_controller.storage.database import Database
from edge_controller.storage.payments_store import PaymentStore


def zvt_terminal(terminal: PaymentTerminalSettings) -> ZvtTerminal:
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


def payment_flows(settings: Settings, db: Database) -> dict[str, PaymentFlow]:
    """A flow per configured terminal, by terminal id (empty without a ``payments`` section)."""
    store = PaymentStore(db)
    flows = {}
    for terminal_id, terminal in settings.payments.terminals.items():
        reserve = Money(terminal.pre_authorisation_amount, Currency.of(terminal.currency))
        place = TerminalPlace(terminal_id, reserve)
        flows[terminal_id] = PaymentFlow(place, zvt_terminal(terminal), store, time.time)
    return flows


def connector_flows(settings: Settings, flows: dict[str, PaymentFlow]) -> dict[str, PaymentFlow]:
    """The flow of the terminal serving each connector (the config names one per connector)."""
    return {
        cid: flows[tid] for tid, t in settings.payments.terminals.items() for cid in t.connectors
    }
