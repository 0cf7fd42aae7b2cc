"""Where a running cost heads (``domain.pricing.outlook``): carried forward at the rate of the
last priced interval to the next expected reading, exactly, in the currency's money."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.pricing.outlook import (
    CostOutlook,
    CostPoint,
    next_reading_s,
    outlook,
    passes,
)

EUR = Currency.of("EUR")


def eur(text: str) -> Money:
    return Money(Decimal(text), EUR)


def test_the_limit_1_19_case_stops_at_2500_wh_not_at_3000() -> None:
    """500 Wh a minute at 0.476 EUR/kWh gross; running costs are shown to the cent (1,500 Wh:
    0.714 -> 0.71, 2,000 Wh: 0.952 -> 0.95). At 2,000 Wh the next reading is projected to
    exactly 1.19: it goes on. At 2,500 Wh (1.19) the limit is reached; had it been 1.20, the
    projection (1.43) would stop it there all the same."""
    at_2000 = outlook(CostPoint(180, eur("0.71")), CostPoint(240, eur("0.95")), 300)
    assert at_2000.ahead == Fraction("1.19") and not passes(Decimal("1.19"), at_2000)
    at_2500 = outlook(CostPoint(240, eur("0.95")), CostPoint(300, eur("1.19")), 360)
    assert at_2500.ahead == Fraction("1.43")
    assert passes(Decimal("1.19"), at_2500) and passes(Decimal("1.20"), at_2500)


def test_a_cost_priced_one_reading_late_is_projected_over_both_intervals() -> None:
    """The running cost is priced after its reading is recorded: a check in between sees the
    cost of the reading before, and projects it to the reading after the newest."""
    stale = outlook(CostPoint(180, eur("0.71")), CostPoint(240, eur("0.95")), 360)
    assert stale.now == eur("0.95") and stale.ahead == Fraction("1.43")


def test_the_projection_is_exact_where_decimals_would_round() -> None:
    found = outlook(CostPoint(0, eur("0.00")), CostPoint(3, eur("0.01")), 4)
    assert found.ahead == Fraction(4, 300)  # 0.0133..., not a rounded cent


def test_nothing_is_projected_without_a_rate() -> None:
    assert outlook(None, CostPoint(60, eur("1.00")), 120) == CostOutlook(eur("1.00"), Fraction(1))
    flat = outlook(CostPoint(0, eur("1.00")), CostPoint(60, eur("1.00")), 120)
    assert flat.ahead == Fraction(1)
    capped = outlook(CostPoint(0, eur("2.10")), CostPoint(60, eur("2.00")), 120)
    assert capped.ahead == Fraction(2)  # a max cost held it: never projected down
    assert outlook(CostPoint(0, eur("0.50")), CostPoint(60, eur("1.00")), None).ahead == 1


def test_the_next_reading_follows_the_last_interval() -> None:
    assert next_reading_s([100.0, 160.0]) == 220.0
    assert next_reading_s([100.0]) is None
    assert next_reading_s([]) is None
