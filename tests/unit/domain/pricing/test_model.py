"""Bad tariffs and timelines are refused with the field and the reason; edge cases of cost()."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from edge_controller.domain.pricing import (
    Activity,
    ActivityChange,
    Calendar,
    Component,
    Conditions,
    CostLimit,
    CostType,
    Currency,
    EnergyPrice,
    FixedPrice,
    PriceList,
    RegisterReading,
    ReservationSpan,
    Tariff,
    TariffError,
    TaxRate,
    Timeline,
    TimelineError,
    TimePrice,
    Weekday,
    cost,
)
from edge_controller.domain.pricing.conditions import calendar_holds
from tests.unit.domain.pricing.invariants import check_all

EUR = Currency.of("EUR")
BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 10, 10, 0, tzinfo=BERLIN)
VAT = TaxRate("VAT", Decimal(19))


def energy(*prices: EnergyPrice, taxes: tuple[TaxRate, ...] = ()) -> PriceList[EnergyPrice]:
    return PriceList(prices, taxes)


def minutes(count: float) -> datetime:
    return START + timedelta(minutes=count)


def charging(until_min: float, *registers: tuple[float, str]) -> Timeline:
    readings = tuple(RegisterReading(minutes(m), Decimal(wh)) for m, wh in registers)
    return Timeline(
        START, minutes(until_min), readings, (ActivityChange(START, Activity.CHARGING),)
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"energy": energy(EnergyPrice(Decimal("-0.1")))}, r"energy.prices\[0\]: price"),
        ({"energy": energy(EnergyPrice(0.3))}, r"energy.prices\[0\]: price 0.3 is not a Decimal"),  # type: ignore[arg-type]
        ({"energy": PriceList(())}, "energy.prices: empty"),
        (
            {
                "energy": energy(
                    EnergyPrice(
                        Decimal(1), Conditions(min_energy_wh=Decimal(5), max_energy_wh=Decimal(2))
                    )
                )
            },
            r"energy.prices\[0\].conditions: min_energy_wh 5 not below max_energy_wh 2",
        ),
        (
            {
                "charging_time": PriceList(
                    (TimePrice(Decimal(1), Conditions(Calendar(start_time_of_day=time(7, 0, 30)))),)
                )
            },
            "start_time_of_day 07:00:30 is not a local hh:mm",
        ),
        (
            {
                "idle_time": PriceList(
                    (TimePrice(Decimal(1), Conditions(Calendar(days_of_week=frozenset()))),),
                )
            },
            "days_of_week is empty",
        ),
        (
            {"energy": energy(EnergyPrice(Decimal(1)), taxes=(TaxRate("VAT", Decimal(-1)),))},
            r"energy.tax_rates\[0\]: percent",
        ),
        ({"min_cost": CostLimit()}, "min_cost: needs excl_tax or incl_tax"),
        (
            {"min_cost": CostLimit(Decimal(5)), "max_cost": CostLimit(Decimal(4))},
            "min_cost: above max_cost",
        ),
        ({"tariff_id": ""}, "tariff_id: empty"),
        ({"energy": PriceList(EnergyPrice(Decimal(1)))}, "energy: prices and tax_rates are tuples"),  # type: ignore[arg-type]
        ({"version": 0}, "version: 0"),
        ({"valid_from": datetime(2025, 1, 1)}, "valid_from: needs a time zone"),
    ],
)
def test_a_bad_tariff_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"tariff_id": "t", "currency": EUR, **change}
    with pytest.raises(TariffError, match=message):
        Tariff(**fields)  # type: ignore[arg-type]


def _timeline(**change: object) -> Timeline:
    fields: dict[str, object] = {
        "started_at": START,
        "until": minutes(60),
        "readings": (RegisterReading(START, Decimal(0)), RegisterReading(minutes(30), Decimal(10))),
    }
    fields.update(change)
    return Timeline(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"readings": ()}, "readings: none"),
        (
            {
                "readings": (
                    RegisterReading(START, Decimal(100)),
                    RegisterReading(minutes(5), Decimal(99)),
                )
            },
            r"readings\[1\]: register went back from 100 to 99 Wh",
        ),
        (
            {
                "readings": (
                    RegisterReading(START, Decimal(1)),
                    RegisterReading(minutes(5), Decimal(1)),
                    RegisterReading(minutes(4), Decimal(1)),
                )
            },
            r"readings\[2\]: before the reading before it",
        ),
        (
            {"readings": (RegisterReading(minutes(-1), Decimal(0)),)},
            r"readings\[0\]: at .* outside",
        ),
        ({"readings": (RegisterReading(START, 1.5),)}, r"readings\[0\]: energy_wh 1.5 is not"),  # type: ignore[arg-type]
        ({"started_at": datetime(2025, 3, 10, 10)}, "started_at: .* has no time zone"),
        ({"until": minutes(-5)}, "until: before started_at"),
        (
            {
                "activity": (
                    ActivityChange(minutes(20), Activity.CHARGING),
                    ActivityChange(minutes(10), Activity.IDLE),
                )
            },
            r"activity\[1\]: out of order",
        ),
        ({"activity": (ActivityChange(START, Activity.RESERVED),)}, "reserved is not an activity"),
        ({"reservation": ReservationSpan(minutes(-5), minutes(5))}, "reservation: must end before"),
    ],
)
def test_a_bad_timeline_is_refused_naming_the_entry(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(TimelineError, match=message):
        _timeline(**change)


def test_prefix_is_what_was_known_then() -> None:
    line = _timeline(stop_register_known=False)
    early = line.prefix(minutes(29))
    assert [r.energy_wh for r in early.readings] == [Decimal(0)]
    assert early.until == minutes(29) and early.stop_register_known
    with pytest.raises(TimelineError, match="outside the session"):
        line.prefix(minutes(61))


def test_time_of_day_windows() -> None:
    def inside(start: str | None, end: str | None, at: str) -> bool:
        cal = Calendar(
            start_time_of_day=time.fromisoformat(start) if start else None,
            end_time_of_day=time.fromisoformat(end) if end else None,
        )
        return calendar_holds(cal, datetime.fromisoformat(f"2025-03-10T{at}"))

    assert inside("22:00", "06:00", "23:59") and inside("22:00", "06:00", "05:59:59")
    assert not inside("22:00", "06:00", "06:00") and not inside("22:00", "06:00", "21:59")
    assert inside("18:00", "00:00", "23:59:59") and not inside("18:00", "00:00", "00:00")
    assert inside("07:00", "07:00", "03:00")  # equal ends: the whole day
    assert inside(None, "08:00", "00:00") and not inside(None, "08:00", "08:00")
    assert inside("08:00", None, "23:00") and not inside("08:00", None, "07:59")
    weekend = Calendar(days_of_week=frozenset({Weekday.SATURDAY, Weekday.SUNDAY}))
    assert not calendar_holds(weekend, datetime(2025, 3, 14, 23, 59))
    assert calendar_holds(weekend, datetime(2025, 3, 15, 0, 0))


def test_a_session_that_has_not_lasted_a_moment_costs_its_fixed_fee() -> None:
    tariff = Tariff(
        "t",
        EUR,
        energy=energy(EnergyPrice(Decimal("0.3"))),
        fixed_fee=PriceList((FixedPrice(Decimal("1.00")),), (VAT,)),
    )
    line = Timeline(START, START, (RegisterReading(START, Decimal(500)),))
    breakdown = cost(tariff, line, BERLIN)
    check_all(breakdown, line)
    assert (breakdown.total_excl_tax.amount, breakdown.total_incl_tax.amount) == (
        Decimal("1.00"),
        Decimal("1.19"),
    )
    assert len(breakdown.periods) == 1 and breakdown.periods[0].start == START


def test_the_minimum_applies_from_the_first_moment() -> None:
    tariff = Tariff(
        "t",
        EUR,
        energy=energy(EnergyPrice(Decimal("0.3"))),
        min_cost=CostLimit(incl_tax=Decimal("2.38"), tax_rates=(VAT,)),
    )
    breakdown = cost(tariff, charging(0, (0, "0")), BERLIN)
    assert breakdown.type_of_cost is CostType.MIN_COST
    assert (breakdown.total_excl_tax.amount, breakdown.total_incl_tax.amount) == (
        Decimal("2.00"),
        Decimal("2.38"),
    )
    assert [(t.name, t.amount.amount) for t in breakdown.taxes] == [("VAT", Decimal("0.38"))]


def test_a_limit_without_tax_rates_shows_its_tax_as_one_line() -> None:
    tariff = Tariff(
        "t",
        EUR,
        energy=energy(EnergyPrice(Decimal("0.3"))),
        min_cost=CostLimit(Decimal("2.00"), Decimal("2.50")),
    )
    breakdown = cost(tariff, charging(10, (0, "0"), (10, "1000")), BERLIN)
    assert [(t.name, t.percent, t.amount.amount) for t in breakdown.taxes] == [
        ("tax", None, Decimal("0.50"))
    ]
    assert breakdown.component(Component.COST_LIMIT).excl_tax.amount == Decimal("1.70")


def test_an_unmeasured_power_does_not_meet_a_power_condition() -> None:
    fast = EnergyPrice(Decimal("0.59"), Conditions(min_power_w=Decimal(50000)))
    tariff = Tariff("t", EUR, energy=energy(fast, EnergyPrice(Decimal("0.39"))))
    breakdown = cost(tariff, charging(60, (0, "0"), (60, "10000")), BERLIN)
    assert breakdown.total_excl_tax.amount == Decimal("3.90")
    assert [p.index for p in breakdown.periods[0].prices] == [1]


def test_an_idle_session_before_charging_counts_as_idle() -> None:
    tariff = Tariff("t", EUR, idle_time=PriceList((TimePrice(Decimal("0.10")),)))
    line = Timeline(START, minutes(30), (RegisterReading(START, Decimal(0)),))
    breakdown = cost(tariff, line, BERLIN)
    assert breakdown.total_excl_tax.amount == Decimal("3.00")
    assert breakdown.usage.idle_time_s == Decimal(1800)


def test_the_breakdown_names_the_tariff_version_and_the_elements() -> None:
    tariff = Tariff("night", EUR, version=7, energy=energy(EnergyPrice(Decimal("0.25"))))
    breakdown = cost(tariff, charging(60, (0, "0"), (60, "4000")), BERLIN)
    assert (breakdown.tariff_id, breakdown.tariff_version) == ("night", 7)
    assert breakdown.periods[0].prices[0].unit_price == Decimal("0.25")
    assert breakdown.priced_until == minutes(60)


def test_any_time_zone_input_gives_the_same_cost() -> None:
    tariff = Tariff(
        "t",
        EUR,
        energy=energy(
            EnergyPrice(Decimal("0.2"), Conditions(Calendar(time(22), time(6)))),
            EnergyPrice(Decimal("0.4")),
        ),
    )
    here = charging(120, (0, "0"), (120, "20000"))
    moved = Timeline(
        here.started_at.astimezone(UTC),
        here.until.astimezone(UTC),
        tuple(RegisterReading(r.at.astimezone(UTC), r.energy_wh) for r in here.readings),
        (ActivityChange(START.astimezone(UTC), Activity.CHARGING),),
    )
    assert cost(tariff, here, BERLIN).total_excl_tax == cost(tariff, moved, BERLIN).total_excl_tax
