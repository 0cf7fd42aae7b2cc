"""What is reserved on a card and what is booked, in exact minor units."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from edge_controller.domain.payments import (
    capture_amount,
    cost_limit_reached,
    next_end_of_day_s,
    pre_authorisation_amount,
    with_paid_limit,
)
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.pricing.outlook import CostOutlook
from edge_controller.domain.pricing.tariff import (
    CostLimit,
    EnergyPrice,
    PriceList,
    Tariff,
    TaxRate,
)

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


VAT = (TaxRate("VAT", Decimal("19")),)


def _tariff(max_cost: CostLimit | None = None, min_cost: CostLimit | None = None) -> Tariff:
    energy = PriceList((EnergyPrice(Decimal("0.40")),), VAT)
    return Tariff("t", EUR, energy=energy, max_cost=max_cost, min_cost=min_cost)


@pytest.mark.parametrize(
    ("max_cost_incl", "min_cost_incl", "expected_incl"),
    [(None, None, "20.00"), ("60.00", None, "20.00"), ("15.00", None, "15.00"),
     (None, "25.00", None)],
)  # fmt: skip
def test_a_paid_session_costs_at_most_its_pre_authorisation(
    max_cost_incl: str | None, min_cost_incl: str | None, expected_incl: str | None
) -> None:
    """20.00 EUR paid: the tariff's max cost becomes 20.00 incl. tax unless it is lower; a min
    cost above it leaves the tariff as it is (the capture is capped at the reservation)."""
    limit = None if max_cost_incl is None else CostLimit(incl_tax=Decimal(max_cost_incl))
    low = None if min_cost_incl is None else CostLimit(incl_tax=Decimal(min_cost_incl))
    tariff = _tariff(limit, low)
    paid = with_paid_limit(tariff, eur("20.00"))
    if expected_incl is None:
        assert paid == tariff
        return
    assert paid.max_cost is not None
    assert paid.max_cost.figures()[1] == Decimal(expected_incl)
    assert paid.energy == tariff.energy


def _at(now: str, ahead: str | None = None) -> CostOutlook:
    return CostOutlook(eur(now), Fraction(ahead or now))


def test_running_cost_at_the_pre_authorisation_stops_the_session() -> None:
    assert not cost_limit_reached(eur("2.00"), _at("1.99"))
    assert cost_limit_reached(eur("2.00"), _at("2.00"))
    assert cost_limit_reached(eur("2.00"), _at("2.40"))


def test_a_next_reading_projected_past_the_pre_authorisation_stops_the_session_now() -> None:
    assert not cost_limit_reached(eur("2.00"), _at("1.50", "2.00"))  # reaches it: goes on
    assert cost_limit_reached(eur("2.00"), _at("1.50", "2.001"))


@pytest.mark.parametrize(
    ("now_local", "expected_local"),
    [
        ("2026-03-02T01:00", "2026-03-02T02:00"),  # later today
        ("2026-03-02T02:00", "2026-03-03T02:00"),  # just done: tomorrow
        ("2026-03-28T23:00", "2026-03-29T03:00"),  # 02:00 does not exist that night (DST)
    ],
)
def test_the_day_closes_at_the_next_local_time(now_local: str, expected_local: str) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now_s = datetime.fromisoformat(now_local).replace(tzinfo=berlin).timestamp()
    found = datetime.fromtimestamp(next_end_of_day_s(now_s, time(2, 0), berlin), berlin)
    assert found.isoformat(timespec="minutes").startswith(expected_local)
