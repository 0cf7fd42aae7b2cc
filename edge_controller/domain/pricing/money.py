"""Currencies and amounts of money: ISO 4217 codes with their minor units, exact rounding."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

# ISO 4217 exponents (digits after the decimal point of the minor unit). Codes not listed are
# refused rather than guessed: a wrong exponent would bill a hundred times too much or too little.
_TWO = (
    "AED AUD BGN BRL CAD CHF CNY CZK DKK EUR GBP HKD HUF IDR ILS INR MXN MYR NOK NZD PHP PLN RON "
    "RSD SAR SEK SGD THB TRY TWD UAH USD ZAR"
)
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO.split(" "), 2),
    **dict.fromkeys(("CLP", "ISK", "JPY", "KRW", "VND", "XAF", "XOF"), 0),
    **dict.fromkeys(("BHD", "JOD", "KWD", "OMR", "TND"), 3),
}


class MoneyError(ValueError):
    """An amount or currency that cannot be money as this package means it."""


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency: its code and the number of digits of its minor unit."""

    code: str
    minor_units: int

    @classmethod
    def of(cls, code: str) -> Currency:
        try:
            return cls(code, MINOR_UNITS[code])
        except KeyError:
            raise MoneyError(f"unknown currency code {code!r} (ISO 4217, e.g. EUR)") from None

    def __post_init__(self) -> None:
        if MINOR_UNITS.get(self.code) != self.minor_units:
            raise MoneyError(f"{self.code!r} with {self.minor_units} minor digits is not ISO 4217")

    @property
    def quantum(self) -> Decimal:
        """The smallest amount: 0.01 for EUR, 1 for JPY, 0.001 for KWD."""
        return Decimal(1).scaleb(-self.minor_units)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency, always a whole number of the currency's minor unit."""

    amount: Decimal
    currency: Currency

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise MoneyError(f"money is a Decimal, not {type(self.amount).__name__}")
        if self.amount != self.amount.quantize(self.currency.quantum):
            raise MoneyError(
                f"{self.amount} is not a whole number of {self.currency.code} minor units"
            )
        # One spelling per amount (0.5 and 0.50 EUR compare equal but print differently).
        object.__setattr__(self, "amount", self.amount.quantize(self.currency.quantum))

    @classmethod
    def zero(cls, currency: Currency) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def of_minor(cls, minor: int, currency: Currency) -> Money:
        """From a count of minor units (cents): ``Money.of_minor(1234, EUR)`` is 12.34 EUR."""
        return cls(Decimal(minor).scaleb(-currency.minor_units), currency)

    @property
    def minor(self) -> int:
        """The amount as a count of minor units (cents for EUR)."""
        return int(self.amount.scaleb(self.currency.minor_units))

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def _same(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise MoneyError(f"cannot mix {self.currency.code} and {other.currency.code}")
        return other

    def __str__(self) -> str:
        return f"{self.amount} {self.currency.code}"


def round_half_up(value: Fraction, places: int) -> Decimal:
    """``value`` rounded to ``places`` decimals, halves away from zero (Decimal's ROUND_HALF_UP)."""
    whole, rest = divmod(abs(value.numerator) * 10**places, value.denominator)
    if 2 * rest >= value.denominator:
        whole += 1
    return Decimal(whole if value >= 0 else -whole).scaleb(-places)
