"""Paying at a terminal: pre-authorise, start with the payment as token, capture the cost once."""

from edge_controller.services.payments.flow import (
    CostCap,
    PaymentFlow,
    StartSession,
    TerminalPlace,
)
from edge_controller.services.payments.limits import CostLimits, RunningCost

__all__ = ["CostCap", "CostLimits", "PaymentFlow", "RunningCost", "StartSession", "TerminalPlace"]
