"""What ``cost()`` returns: a session's cost by component, by period and by tax, in money."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.pricing.timeline import Activity


class Component(enum.Enum):
    ENERGY = "energy"
    CHARGING_TIME = "charging_time"
    IDLE_TIME = "idle_time"
    FIXED = "fixed"
    RESERVATION_TIME = "reservation_time"
    RESERVATION_FIXED = "reservation_fixed"
    COST_LIMIT = "cost_limit"  # what min_cost adds, or (negative) what max_cost takes off


class CostType(enum.Enum):
    NORMAL = "normal"
    MIN_COST = "min_cost"
    MAX_COST = "max_cost"


@dataclass(frozen=True, slots=True)
class Amount:
    component: Component
    excl_tax: Money
    incl_tax: Money


@dataclass(frozen=True, slots=True)
class AppliedPrice:
    """The tariff element that priced a component: its place in the tariff's list and its unit
    price (per kWh, per minute, or the fixed amount)."""

    component: Component
    index: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Period:
    """A stretch of the session (or reservation) in which the applying price elements stay the
    same. ``duration_s`` is charging, idle or reservation time, as ``activity`` says."""

    start: datetime
    end: datetime
    activity: Activity
    prices: tuple[AppliedPrice, ...]
    energy_wh: Decimal
    duration_s: Decimal
    amounts: tuple[Amount, ...]
    excl_tax: Money
    incl_tax: Money
    min_power_w: Decimal | None = None
    max_power_w: Decimal | None = None
    min_current_sum_a: Decimal | None = None
    max_current_sum_a: Decimal | None = None
    tariff_id: str | None = None  # the tariff that priced it, when the session's changed


@dataclass(frozen=True, slots=True)
class TaxAmount:
    """Tax of one rate over the whole session; ``percent`` is None for a difference between a
    cost limit's figures that no rate explains."""

    name: str
    percent: Decimal | None
    stack: int
    amount: Money


@dataclass(frozen=True, slots=True)
class Usage:
    energy_wh: Decimal
    charging_time_s: Decimal
    idle_time_s: Decimal
    reservation_time_s: Decimal

    @property
    def session_time_s(self) -> Decimal:
        return self.charging_time_s + self.idle_time_s


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """The cost of a session up to ``priced_until``. Periods, components and taxes add up to
    the totals exactly; ``stop_register_unknown`` says the energy ends at the last reading."""

    tariff_id: str
    tariff_version: int
    currency: Currency
    type_of_cost: CostType
    total_excl_tax: Money
    total_incl_tax: Money
    components: tuple[Amount, ...]
    taxes: tuple[TaxAmount, ...]
    periods: tuple[Period, ...]
    usage: Usage
    priced_until: datetime
    stop_register_unknown: bool = False

    def component(self, component: Component) -> Amount:
        """The amount of ``component`` (zero if the tariff does not price it)."""
        for amount in self.components:
            if amount.component is component:
                return amount
        zero = Money.zero(self.currency)
        return Amount(component, zero, zero)
