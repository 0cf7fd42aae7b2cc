"""Paying at a terminal: pre-authorise, start with the payment as token, capture the cost once."""

from edge_controller.services.payments.flow import PaymentFlow, StartSession, TerminalPlace

__all__ = ["PaymentFlow", "StartSession", "TerminalPlace"]
