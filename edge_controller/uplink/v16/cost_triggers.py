"""What a costmsg RunningCost asks of the charge point beyond showing its cost. Pure.

The Open Charge Alliance's pricing extension for OCPP 1.6 lets a CSMS that calculates cost
centrally add to a RunningCost:

- ``triggerMeterValue`` {atTime, atEnergykWh, atPowerkW, atCPStatus[]}: when to send the
  next MeterValues, so the CSMS can price the session again at that moment (a price step at a
  time, an energy block, a power band, the EV finishing). Each condition is met once per
  RunningCost: atTime when the CSMS's clock passes it, atEnergykWh when the transaction's
  energy register reaches it, atPowerkW when the power crosses it (either way, from the side
  it was on when the message came), atCPStatus each time the connector's reported status
  becomes one of the listed ones.
- ``nextPeriod`` {atTime, chargingPrice, idlePrice}: the prices from ``atTime`` on, shown to
  the driver when that period starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from edge_controller.uplink.clock import from_iso

# OCPP 1.6 ChargePointStatus values a trigger may name.
STATUSES = frozenset({
    "Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing",
    "Reserved", "Unavailable", "Faulted",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class MeterTrigger:
    at_s: float | None = None  # the CSMS's time
    at_energy_wh: Decimal | None = None  # the energy register, Wh
    at_power_w: Decimal | None = None
    at_statuses: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class NextPeriod:
    at_s: float
    price_text: str  # the period's prices, as the driver is shown them


@dataclass(slots=True)
class TriggerState:
    """One RunningCost's trigger on a connector: which conditions are spent."""

    trigger: MeterTrigger
    time_met: bool = False
    energy_met: bool = False
    power_above: bool | None = None  # the side of atPowerkW the power was on, once known
    power_met: bool = False
    last_status: str | None = None
    met: list[str] = field(default_factory=list)  # what was met, in order (for the log)


def due(
    state: TriggerState, now_s: float, energy_wh: float | None, power_w: float | None,
    status: str | None,
) -> list[str]:  # fmt: skip
    """The conditions met now (each names itself, e.g. "atEnergykWh"); empty: none. Marks
    the once-only ones spent in ``state``."""
    trigger, found = state.trigger, []
    if trigger.at_s is not None and not state.time_met and now_s >= trigger.at_s:
        state.time_met = True
        found.append("atTime")
    energy = None if energy_wh is None else Decimal(str(energy_wh))
    if trigger.at_energy_wh is not None and not state.energy_met and energy is not None:
        state.energy_met = energy >= trigger.at_energy_wh
        if state.energy_met:
            found.append("atEnergykWh")
    if trigger.at_power_w is not None and not state.power_met and power_w is not None:
        above = Decimal(str(power_w)) >= trigger.at_power_w
        if state.power_above is None:
            state.power_above = above
        elif above != state.power_above:
            state.power_met = True
            found.append("atPowerkW")
    if status != state.last_status:
        if state.last_status is not None and status in trigger.at_statuses:
            found.append("atCPStatus")
        state.last_status = status
    state.met.extend(found)
    return found


def parse_trigger(value: Any) -> MeterTrigger:
    """``triggerMeterValue``; ValueError says what is wrong."""
    if not isinstance(value, dict):
        raise ValueError("triggerMeterValue must be an object")
    unknown = set(value) - {"atTime", "atEnergykWh", "atPowerkW", "atCPStatus"}
    if unknown:
        raise ValueError(f"triggerMeterValue has unknown fields {sorted(unknown)}")
    statuses = value.get("atCPStatus", [])
    if not isinstance(statuses, list) or not set(statuses) <= STATUSES:
        raise ValueError(f"atCPStatus must be a list of OCPP 1.6 statuses {sorted(STATUSES)}")
    energy_kwh, power_kw = (
        non_negative_number(value, "atEnergykWh"),
        non_negative_number(value, "atPowerkW"),
    )
    return MeterTrigger(
        at_s=_time(value, "atTime"),
        at_energy_wh=None if energy_kwh is None else energy_kwh * 1000,
        at_power_w=None if power_kw is None else power_kw * 1000,
        at_statuses=frozenset(statuses),
    )


def parse_next_period(value: Any) -> NextPeriod:
    """``nextPeriod``; ValueError says what is wrong."""
    if not isinstance(value, dict):
        raise ValueError("nextPeriod must be an object")
    at_s = _time(value, "atTime")
    if at_s is None:
        raise ValueError("nextPeriod.atTime is required")
    charging, idle = value.get("chargingPrice") or {}, value.get("idlePrice") or {}
    if not isinstance(charging, dict) or not isinstance(idle, dict):
        raise ValueError("nextPeriod's chargingPrice and idlePrice are objects")
    return NextPeriod(at_s, price_text(charging, idle))


def price_text(charging: dict[str, Any], idle: dict[str, Any]) -> str:
    """The prices of a period in a line: "0.30/kWh, 1.20/h, 0.50 per session; idle 6.00/h
    after 10 min" (the CSMS's currency, which the message does not name)."""
    parts = []
    for name, unit in (("kWhPrice", "/kWh"), ("hourPrice", "/h"), ("flatFee", " per session")):
        amount = non_negative_number(charging, name)
        if amount is not None:
            parts.append(f"{amount}{unit}")
    text = ", ".join(parts) or "no charging price"
    idle_hour = non_negative_number(idle, "hourPrice")
    if idle_hour is not None:
        grace = idle.get("graceMinutes", 0)
        text += f"; idle {idle_hour}/h" + (f" after {grace} min" if grace else "")
    return text


def non_negative_number(body: dict[str, Any], name: str) -> Decimal | None:
    """``body[name]`` as a Decimal (None when absent); ValueError for anything but a number
    of at least 0 (the pricing extension's prices and thresholds)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value < 0:
        raise ValueError(f"{name} must be a number of at least 0")
    return Decimal(value)


def _time(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a date-time text")
    try:
        return from_iso(value)
    except ValueError:
        raise ValueError(f"{name} is not a date-time: {value[:40]!r}") from None
