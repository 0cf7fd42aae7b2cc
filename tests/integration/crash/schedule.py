"""The deterministic site the crash test drives: what each connector does at virtual second t.

Every connector repeats a 16 s cycle, shifted by 4 s per connector: unplugged, plugged, card
(or the card a second before the plug-in), charging, then one of three endings (EV unplugged,
same card again, charger fault). The energy register is a pure function of t, so the checker
knows every value a meter could have shown.
"""

from __future__ import annotations

from edge_controller.domain.model import ChargerStatus, CpState

T0_S = 1_800_000_000
CYCLE_S = 16
CONNECTORS = ("cp1:1", "cp1:2", "cp2:1", "cp2:2")


def _phase(index: int, t: int) -> tuple[int, int]:
    shifted = t - T0_S + 4 * index
    return shifted % CYCLE_S, shifted // CYCLE_S


def ending(index: int, t: int) -> str:
    return ("unplug", "card", "fault")[_phase(index, t)[1] % 3]


def status_at(index: int, t: int) -> ChargerStatus:
    p, _ = _phase(index, t)
    if p < 2 or p >= 12:
        state = CpState.A
    elif p == 11 and ending(index, t) == "fault":
        state = CpState.F
    else:
        state = CpState.B if p < 4 else CpState.C
    return ChargerStatus(state=state, enabled=True, offered_current_a=16.0, at_s=float(t))


def tap_at(index: int, t: int, *, card_first: bool = False) -> bool:
    """The card at t (``card_first``: a second before the plug-in, not after it)."""
    p, _ = _phase(index, t)
    return p == (1 if card_first else 3) or (p == 11 and ending(index, t) == "card")


def id_tag(index: int) -> str:
    return f"CAFE{index:04X}"


def energy_wh(index: int, t: float) -> int:
    return 10_000 * (index + 1) + 7 * (int(t) - T0_S)
