"""What is reserved on a card and what is booked, in exact minor units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edge_controller.domain.payments import capture_amount, pre_authorisation_amount
from edge_controller.domain.pricing.money import Currency, Money

EUR = Currency.of("EUR")


def eur(text: str) -> Money:
    return Money(Decimal(text), EUR)


@pytest.mark.parametrize(
    ("configured", "max_cost", "expected"),
    [("50.00", None, "50.00"), ("50.00", "30.00", "30.00"), ("25.00", "30.00", "25.00")],
)
def test_pre_authorisation_never_exceeds_the_tariffs_max_cost(
    configured: str, max_cost: str | None, expected: str
) -> None:
    cap = eur(max_cost) if max_cost else None
    assert pre_authorisation_amount(eur(configured), cap) == eur(expected)


@pytest.mark.parametrize(
    ("authorised", "cost", "expected_minor"),
    [("30.00", "12.34", 1234), ("30.00", "30.01", 3000), ("30.00", "0.00", 0)],
)
def test_capture_is_the_cost_capped_at_the_reservation(
    authorised: str, cost: str, expected_minor: int
) -> None:
    assert capture_amount(eur(authorised), eur(cost)).minor == expected_minor


def test_a_negative_cost_is_not_captured() -> None:
    with pytest.raises(ValueError, match="negative"):
        capture_amount(eur("30.00"), eur("-0.01"))
