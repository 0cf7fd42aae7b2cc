"""Which of its charger's phases an EV draws on, learned from the charger's own readings. Pure.

Allocation counts an EV's offer on every phase it may draw on; counting too few lets our own
offer overload a phase nobody reserved. A single reading proves little: a charger that reads its
three currents one register after another, while the EV ramps up or stops, returns a torn
reading (``[9.0, 0.0, 0.0]`` from a three-phase EV). So an EV counts on every phase its charger
is wired to until a phase has carried nothing over several readings, for a while, as the others
drew; an EV that draws nothing (paused by us or by itself, waiting, just plugged) starts over,
since it may come back on any phase. A phase that draws again counts again at once.

Phases are dropped from the end only (L3, then L2): an EV on fewer phases uses the charger's
first ones, and a count is all allocation takes. An unused phase before a used one is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_controller.domain.balancing.types import DemandState
from edge_controller.domain.model import Phases3


@dataclass(frozen=True, slots=True)
class PhaseRule:
    """When a phase is taken as unused: at most ``drawing_a`` on it in ``readings`` readings in
    a row spanning at least ``span_s`` (longer than an EV may take to follow an offer, 5 s in
    IEC 61851-1), each with another phase drawing more."""

    drawing_a: float = 1.0
    readings: int = 3
    span_s: float = 5.0


@dataclass(frozen=True, slots=True)
class PhaseEvidence:
    """Per charger phase: the time of the first of the readings in a row in which it carried
    nothing while another drew (None: it drew in the latest), and how many such readings.
    ``last_at_s``: the time of the latest reading counted (each reading counts once)."""

    idle_since_s: tuple[float | None, float | None, float | None] = (None, None, None)
    idle_readings: tuple[int, int, int] = (0, 0, 0)
    last_at_s: float | None = None


NO_EVIDENCE = PhaseEvidence()
DEFAULT_RULE = PhaseRule()


def learn_phases(
    evidence: PhaseEvidence,
    state: DemandState,
    reading: tuple[Phases3, float] | None,
    rule: PhaseRule = DEFAULT_RULE,
) -> PhaseEvidence:
    """``evidence`` updated with one reading (the currents on the charger's L1..L3 and the time
    it was taken) seen in ``state``."""
    if reading is None or state is not DemandState.CHARGING:
        return NO_EVIDENCE
    currents, at_s = reading
    if at_s == evidence.last_at_s:
        return evidence
    drawing = [current > rule.drawing_a for current in currents]
    if not any(drawing):
        return NO_EVIDENCE  # not drawing: it may resume on any phase
    since = evidence.idle_since_s
    count = evidence.idle_readings
    a, b, c = (_idle(drawing[p], since[p], count[p], at_s) for p in range(3))
    return PhaseEvidence((a[0], b[0], c[0]), (a[1], b[1], c[1]), at_s)


def _idle(
    drawing: bool, since_s: float | None, count: int, at_s: float
) -> tuple[float | None, int]:
    if drawing:
        return None, 0
    return (at_s if since_s is None else since_s), count + 1


def phases_in_use(
    evidence: PhaseEvidence, wired: int, rule: PhaseRule = DEFAULT_RULE
) -> int | None:
    """How many of the charger's ``wired`` phases (L1 first) to count; None: all of them."""
    used = 0
    for phase in range(wired):
        since_s = evidence.idle_since_s[phase]
        proven = (
            since_s is not None
            and evidence.last_at_s is not None
            and evidence.idle_readings[phase] >= rule.readings
            and evidence.last_at_s - since_s >= rule.span_s
        )
        if not proven:
            used = phase + 1
    return None if used == 0 or used >= wired else used  # (0: only unwired phases drew)
