"""Prices and cost: the tariff model and ``cost(tariff, timeline, zone) -> CostBreakdown``.

Pure: no I/O, no clock. Money is exact: prices and registers are ``Decimal``; every
intermediate amount is an exact rational (``fractions.Fraction``, never a float), and only the
figures shown are rounded.

Model
    ``Tariff`` is OCPP 2.1's TariffType: a currency, price lists for energy (per kWh), charging
    time and idle time (per minute), a fixed fee, reservation time (per minute) and a
    reservation fixed fee, each with its tax rates; an optional minimum and maximum cost;
    descriptions in several languages; the tariff id and a version the site gives it (OCPP has
    none) so that a session can record exactly what priced it. ``prices_include_tax`` is our
    addition: prices that already contain their tax rates (a consumer price such as
    0.49 EUR/kWh incl. 19 % VAT); OCPP prices never do. ``Money`` knows its ``Currency`` and
    the currency's ISO 4217 minor unit (EUR 2 digits, JPY 0, KWD 3).

    ``Timeline`` is what happened: the start, the end (or now), the session meter's register
    readings (with power and current when measured), when the EV charged and when it was
    idle, the reservation before it, and the payment brand and EVSE kind.

Rules
    - In each price list the first element whose conditions all hold applies; if none holds,
      that component costs nothing then. Fixed fees are chosen once, from the conditions at
      the start of the session (reservation fixed: at the start of the reservation).
    - Times of day, days of week and dates are the site's local time in ``zone``, daylight
      saving included: a window [start, end) wraps past midnight when end < start; an end of
      00:00 is the end of the day; equal start and end mean the whole day. Time prices are per
      minute of real time, so a night across a clock change lasts what the clock did not say.
    - Minimums are inclusive, maximums exclusive. Energy counts from the start register;
      ``min/max_time_s`` count the session's duration, ``*_charging_time_s`` and
      ``*_idle_time_s`` the charging and idle time accumulated in it. Current is the sum over
      the phases. A condition on a power or current that was not measured does not hold.
    - What happened is known only as of the last reading: power, current and, for time
      prices, energy hold their last read value until the next reading. Energy between two
      readings is spread evenly over time, and an energy price changes exactly at the Wh its
      conditions name (the energy on either side is priced on its side).
    - Energy for billing is the difference of registers, never a sum of samples. A session
      whose final register is unknown (power loss) is priced up to its last reading and the
      breakdown says so (``stop_register_unknown``).
    - A period is a stretch in which the applying price elements (and the activity) stay the
      same; the fixed fees belong to the first period of the session (of the reservation),
      the reservation's periods come before the session's.
    - Minimum and maximum cost are decided on the amount excluding tax: when the sum is below
      the minimum (above the maximum) the limit's figures become the totals, and the
      difference is a ``cost_limit`` line in the last period; its tax follows the limit's own
      tax rates (the components' if it names none).
    - Tax: rates of stack 0 apply to the net amount, those of stack 1 to the net amount plus
      the stack-0 taxes, and so on.

Rounding
    Every amount is computed exactly. Only the totals are rounded, once, half up (away from
    zero) to the currency's minor unit. The amounts shown per period and component are cut
    from the exact running sum in time order (each is the rounded running sum minus the one
    before), so periods, components and taxes add up to the totals to the cent, and each is
    within one minor unit of its exact value. The energy per period is cut the same way from
    the register difference, the duration per period to the microsecond.

A tariff changed during the session (OCPP 2.1 ChangeTransactionTariff)
    ``cost(tariff, timeline, zone, switches)``: each tariff prices what happens from its
    switch to the next (periods split there and name their tariff); conditions on duration,
    charging time, idle time and energy count from the session's start under every tariff;
    the fixed fee and the reservation are the first tariff's, chosen at the start; the min and
    max cost of the tariff in force at the end apply to the whole session's sum. All tariffs
    share one currency.

Running cost
    ``cost()`` of ``timeline.prefix(now)`` is the cost so far. As a session goes on the total
    excluding tax never decreases (a maximum cost holds it still); so does the total including
    tax when the cost limits are taxed like the components.

OCPP 2.1 (TariffType of SetDefaultTariff, Authorize, ChangeTransactionTariff) ↔ this model
    tariffId → ``tariff_id``; currency → ``currency.code``; validFrom → ``valid_from``;
    description[] {format, language, content} → ``descriptions`` {format, language, text};
    energy / chargingTime / idleTime / reservationTime / fixedFee / reservationFixed →
    ``energy`` / ``charging_time`` / ``idle_time`` / ``reservation_time`` / ``fixed_fee`` /
    ``reservation_fixed``, each {prices, taxRates} → ``PriceList`` {prices, tax_rates};
    priceKwh / priceMinute / priceFixed → ``price_per_kwh`` / ``price_per_minute`` /
    ``price``; taxRates[] {type, tax, stack} → ``TaxRate`` {name, percent, stack};
    minCost / maxCost {exclTax, inclTax, taxRates} → ``CostLimit`` {excl_tax, incl_tax,
    tax_rates}. Conditions: startTimeOfDay, endTimeOfDay ("hh:mm"), dayOfWeek (names),
    validFromDate, validToDate → ``conditions.calendar`` {start_time_of_day, end_time_of_day,
    days_of_week, valid_from_date, valid_to_date}; evseKind → ``evse_kind``;
    minEnergy/maxEnergy (Wh) → ``min/max_energy_wh``; minCurrent/maxCurrent → ``min/max_current_a``;
    minPower/maxPower (W) → ``min/max_power_w``; minTime/maxTime, minChargingTime/
    maxChargingTime, minIdleTime/maxIdleTime (s) → ``min/max_time_s``,
    ``min/max_charging_time_s``, ``min/max_idle_time_s``; paymentBrand, paymentRecognition
    (fixed prices only) → ``payment_brand``, ``payment_recognition``. OCPP numbers are read as
    Decimal. A tariff with ``prices_include_tax`` has no OCPP form as it stands: its prices
    are divided by their tax factor first. ``version`` stays on our side.

    ``CostBreakdown`` → CostDetailsType: totalCost {currency, typeOfCost (NormalCost, MinCost,
    MaxCost ← ``type_of_cost``), fixed, energy, chargingTime, idleTime, reservationTime,
    reservationFixed ← ``components`` {excl_tax, incl_tax} and their tax rates, total ←
    ``total_excl_tax``/``total_incl_tax``}; totalUsage {energy, chargingTime (the session's
    whole duration), idleTime, reservationTime} ← ``usage`` {energy_wh, session_time_s,
    idle_time_s, reservation_time_s}; chargingPeriods[] ← the session's ``periods`` (OCPP
    shows no reservation period) {startPeriod ← start, tariffId, dimensions Energy,
    ChargingTime, IdleTIme, MinPower, MaxPower, MinCurrent, MaxCurrent ← energy_wh,
    duration_s by activity, min/max_power_w, min/max_current_sum_a}.
"""

from edge_controller.domain.pricing.breakdown import (
    Amount,
    AppliedPrice,
    Component,
    CostBreakdown,
    CostType,
    Period,
    TaxAmount,
    Usage,
)
from edge_controller.domain.pricing.cost import cost
from edge_controller.domain.pricing.money import MINOR_UNITS, Currency, Money, MoneyError
from edge_controller.domain.pricing.tariff import (
    Calendar,
    Conditions,
    CostLimit,
    Description,
    EnergyPrice,
    EvseKind,
    FixedConditions,
    FixedPrice,
    PriceList,
    Tariff,
    TariffError,
    TariffSwitch,
    TaxRate,
    TimePrice,
    Weekday,
)
from edge_controller.domain.pricing.timeline import (
    Activity,
    ActivityChange,
    RegisterReading,
    ReservationSpan,
    SessionContext,
    Timeline,
    TimelineError,
)

__all__ = [
    "MINOR_UNITS",
    "Activity",
    "ActivityChange",
    "Amount",
    "AppliedPrice",
    "Calendar",
    "Component",
    "Conditions",
    "CostBreakdown",
    "CostLimit",
    "CostType",
    "Currency",
    "Description",
    "EnergyPrice",
    "EvseKind",
    "FixedConditions",
    "FixedPrice",
    "Money",
    "MoneyError",
    "Period",
    "PriceList",
    "RegisterReading",
    "ReservationSpan",
    "SessionContext",
    "Tariff",
    "TariffError",
    "TariffSwitch",
    "TaxAmount",
    "TaxRate",
    "TimePrice",
    "Timeline",
    "TimelineError",
    "Usage",
    "Weekday",
    "cost",
]
