"""The ``tariffs:`` section: the site's prices without a CSMS (a ``default`` tariff and
per-connector overrides), in the shape ``domain.pricing.codec`` documents.

```yaml
tariffs:
  default:
    id: standard
    currency: EUR
    prices_include_tax: true              # 0.49 is what the driver pays, VAT included
    energy: {prices: [{price_per_kwh: 0.49}], tax_rates: [{name: VAT, percent: 19}]}
    idle_time:                            # blocking fee after an hour without charging
      prices: [{price_per_minute: 0.10, conditions: {min_idle_time_s: 3600}}]
      tax_rates: [{name: VAT, percent: 19}]
  connectors:
    keba:1: {id: keba-fast, currency: EUR, energy: {prices: [{price_per_kwh: 0.59}]}}
```

Every key is checked like the rest of the config (unknown keys, ranges, a price list without
prices, min_cost above max_cost...), each problem with its key and reason.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from edge_controller.domain.pricing import MINOR_UNITS, Tariff, TariffError
from edge_controller.domain.pricing.codec import tariff_from_json

Price = Annotated[Decimal, Field(ge=0, le=100_000, decimal_places=6)]
Percent = Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)]
Seconds = Annotated[int, Field(ge=0, le=10 * 365 * 86400)]
Amount = Annotated[Decimal, Field(ge=0, le=1_000_000, decimal_places=6)]


def _hhmm(value: str) -> str:
    if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
        raise ValueError('must be a local time hh:mm from 00:00 to 23:59 (quoted: "22:00")')
    return value


HHMM = Annotated[str, AfterValidator(_hhmm)]
Day = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
TARIFF_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,59}$"  # OCPP 2.1 tariffId is at most 60 characters


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TaxRateSettings(_Part):
    name: str = Field(min_length=1, max_length=20, description="e.g. VAT")
    percent: Percent
    stack: int = Field(0, ge=0, le=3, description="1 taxes the price plus the stack-0 taxes")


class CalendarFields(_Part):
    start_time_of_day: HHMM | None = Field(None, description="local hh:mm, inclusive")
    end_time_of_day: HHMM | None = Field(None, description="local hh:mm, exclusive; wraps")
    days_of_week: list[Day] | None = Field(None, min_length=1)
    valid_from_date: dt.date | None = None
    valid_to_date: dt.date | None = Field(None, description="exclusive")
    evse_kind: Literal["AC", "DC"] | None = None


class ConditionSettings(CalendarFields):
    min_energy_wh: Amount | None = None
    max_energy_wh: Amount | None = None
    min_current_a: Amount | None = None
    max_current_a: Amount | None = None
    min_power_w: Amount | None = None
    max_power_w: Amount | None = None
    min_time_s: Seconds | None = None
    max_time_s: Seconds | None = None
    min_charging_time_s: Seconds | None = None
    max_charging_time_s: Seconds | None = None
    min_idle_time_s: Seconds | None = None
    max_idle_time_s: Seconds | None = None


class FixedConditionSettings(CalendarFields):
    payment_brand: str | None = Field(None, min_length=1, max_length=20)
    payment_recognition: str | None = Field(None, min_length=1, max_length=20)


class EnergyPriceSettings(_Part):
    price_per_kwh: Price
    conditions: ConditionSettings | None = None


class TimePriceSettings(_Part):
    price_per_minute: Price
    conditions: ConditionSettings | None = None


class FixedPriceSettings(_Part):
    price: Price
    conditions: FixedConditionSettings | None = None


class EnergyListSettings(_Part):
    prices: list[EnergyPriceSettings] = Field(min_length=1, max_length=64)
    tax_rates: list[TaxRateSettings] = Field(default_factory=list, max_length=8)


class TimeListSettings(_Part):
    prices: list[TimePriceSettings] = Field(min_length=1, max_length=64)
    tax_rates: list[TaxRateSettings] = Field(default_factory=list, max_length=8)


class FixedListSettings(_Part):
    prices: list[FixedPriceSettings] = Field(min_length=1, max_length=64)
    tax_rates: list[TaxRateSettings] = Field(default_factory=list, max_length=8)


class CostLimitSettings(_Part):
    excl_tax: Amount | None = None
    incl_tax: Amount | None = None
    tax_rates: list[TaxRateSettings] = Field(default_factory=list, max_length=8)

    @model_validator(mode="after")
    def _one_figure(self) -> CostLimitSettings:
        if self.excl_tax is None and self.incl_tax is None:
            raise ValueError("give excl_tax or incl_tax (or both)")
        return self


class DescriptionSettings(_Part):
    text: str = Field(min_length=1, max_length=512)
    language: str | None = Field(None, pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


class TariffSettings(_Part):
    """One tariff (OCPP 2.1 TariffType in the model's names); at least one price."""

    id: str = Field(pattern=TARIFF_ID, description="the tariff id sessions and receipts name")
    currency: str = Field(description="ISO 4217 code, e.g. EUR")
    prices_include_tax: bool = Field(
        False, description="prices already contain their tax rates (consumer prices)"
    )
    energy: EnergyListSettings | None = None
    charging_time: TimeListSettings | None = None
    idle_time: TimeListSettings | None = None
    fixed_fee: FixedListSettings | None = None
    reservation_time: TimeListSettings | None = None
    reservation_fixed: FixedListSettings | None = None
    min_cost: CostLimitSettings | None = None
    max_cost: CostLimitSettings | None = None
    descriptions: list[DescriptionSettings] = Field(default_factory=list, max_length=16)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in MINOR_UNITS:
            raise ValueError("not an ISO 4217 currency code this release knows (e.g. EUR, CHF)")
        return value

    @model_validator(mode="after")
    def _is_a_tariff(self) -> TariffSettings:
        lists = ("energy", "charging_time", "idle_time", "fixed_fee")
        if all(getattr(self, name) is None for name in lists):
            raise ValueError(
                "a tariff needs a price: energy, charging_time, idle_time or fixed_fee"
            )
        try:
            self.tariff()
        except TariffError as exc:
            raise ValueError(str(exc)) from None
        return self

    def body(self) -> dict[str, Any]:
        """The tariff in the shared JSON shape (``domain.pricing.codec``)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {
            "id": self.id,
            "currency": self.currency,
        }

    def tariff(self, version: int = 1) -> Tariff:
        return tariff_from_json(self.body(), version)


class TariffsSettings(_Part):
    """The site's own prices; a tariff a CSMS sends later wins until the config changes."""

    default: TariffSettings | None = Field(None, description="prices every connector has")
    connectors: dict[str, TariffSettings] = Field(
        default_factory=dict, description="charger or charger:n -> its own tariff"
    )
