"""Paying at a terminal: pre-authorise, start with the payment as token, capture the cost once."""

from edge_controller.services.payments.flow import (
    CostCap,
    PaymentFlow,
    StartSession,
    TerminalPlace,
)

__all__ = ["CostCap", "PaymentFlow", "StartSession", "TerminalPlace"]
