"""Money knows its currency's minor unit; rounding is half up, on exact values."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_controller.domain.pricing import MINOR_UNITS, Currency, Money, MoneyError
from edge_controller.domain.pricing.money import round_half_up

EUR, JPY, KWD = Currency.of("EUR"), Currency.of("JPY"), Currency.of("KWD")


def test_minor_units_follow_iso_4217() -> None:
    assert (EUR.minor_units, JPY.minor_units, KWD.minor_units) == (2, 0, 3)
    assert Currency.of("GBP").quantum == Decimal("0.01")
    assert Currency.of("CHF").minor_units == Currency.of("USD").minor_units == 2
    assert JPY.quantum == Decimal(1)


def test_an_unknown_currency_is_refused_not_guessed() -> None:
    with pytest.raises(MoneyError, match="unknown currency code 'EURO'"):
        Currency.of("EURO")
    with pytest.raises(MoneyError, match="not ISO 4217"):
        Currency("JPY", 2)


def test_money_counts_minor_units() -> None:
    assert Money.of_minor(1234, EUR).amount == Decimal("12.34")
    assert Money(Decimal("12.3"), EUR).minor == 1230
    assert str(Money(Decimal("5"), EUR)) == "5.00 EUR"
    assert Money.of_minor(1234, JPY).amount == Decimal(1234)
    assert Money.of_minor(1234, KWD).amount == Decimal("1.234")


def test_money_refuses_floats_fractions_of_a_cent_and_mixed_currencies() -> None:
    with pytest.raises(MoneyError, match="Decimal, not float"):
        Money(1.5, EUR)  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match="minor units"):
        Money(Decimal("0.125"), EUR)
    with pytest.raises(MoneyError, match="cannot mix EUR and JPY"):
        _ = Money(Decimal(1), EUR) + Money(Decimal(1), JPY)
    assert Money(Decimal("1.10"), EUR) - Money(Decimal("0.15"), EUR) == Money(Decimal("0.95"), EUR)


def test_rounding_is_half_up_away_from_zero() -> None:
    assert round_half_up(Fraction(125, 1000), 2) == Decimal("0.13")
    assert round_half_up(Fraction(-125, 1000), 2) == Decimal("-0.13")
    assert round_half_up(Fraction(124999, 1000000), 2) == Decimal("0.12")
    assert round_half_up(Fraction(1, 3), 2) == Decimal("0.33")
    assert round_half_up(Fraction(2, 3), 0) == Decimal(1)


@given(st.decimals(min_value=-(10**6), max_value=10**6, places=6), st.integers(0, 3))
def test_rounding_agrees_with_decimal_round_half_up(value: Decimal, places: int) -> None:
    expected = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    assert round_half_up(Fraction(value), places) == expected


def test_every_listed_currency_makes_money() -> None:
    for code in MINOR_UNITS:
        currency = Currency.of(code)
        assert Money.of_minor(1, currency).amount == currency.quantum
