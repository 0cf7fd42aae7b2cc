"""What every breakdown must satisfy, whatever the tariff: the parts add up to the totals."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

from edge_controller.domain.pricing import Activity, CostBreakdown, Timeline


def check_all(breakdown: CostBreakdown, line: Timeline) -> None:
    periods, currency = breakdown.periods, breakdown.currency
    excl, incl = breakdown.total_excl_tax.amount, breakdown.total_incl_tax.amount
    assert sum((p.excl_tax.amount for p in periods), Decimal(0)) == excl
    assert sum((p.incl_tax.amount for p in periods), Decimal(0)) == incl
    assert sum((c.excl_tax.amount for c in breakdown.components), Decimal(0)) == excl
    assert sum((c.incl_tax.amount for c in breakdown.components), Decimal(0)) == incl
    assert sum((t.amount.amount for t in breakdown.taxes), Decimal(0)) == incl - excl
    for period in periods:
        assert (
            sum((a.excl_tax.amount for a in period.amounts), Decimal(0)) == period.excl_tax.amount
        )
        assert (
            sum((a.incl_tax.amount for a in period.amounts), Decimal(0)) == period.incl_tax.amount
        )
    every = [breakdown.total_excl_tax, breakdown.total_incl_tax, *(p.excl_tax for p in periods)]
    assert all(m.currency == currency for m in every)
    assert all(-m.amount.as_tuple().exponent == currency.minor_units for m in every)
    # Energy is the register difference, to the last digit.
    register = line.readings[-1].energy_wh - line.readings[0].energy_wh
    assert sum((p.energy_wh for p in periods), Decimal(0)) == register == breakdown.usage.energy_wh
    session = [p for p in periods if p.activity is not Activity.RESERVED]
    assert session[0].start == line.started_at
    assert session[-1].end == line.until
    for before, after in pairwise(periods):
        assert before.end == after.start
