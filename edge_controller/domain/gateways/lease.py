"""A child's side of the lease: which budget messages it takes, how long one holds, and the
budget it allocates within at a given moment.

A budget holds from its receipt for its lease, but never past its issue time plus its lease
(plus ``tolerance_s`` for the two gateways' clocks) on the child's wall clock: a retained
budget delivered late (after a broker restart, a reconnection) holds only what is left of it.
Without a budget that holds, the child runs on its safe budget. Every budget is clamped to
the child's own feeder limit.

The parent renews every budget each third of its lease (``renewal_s``). A budget that arrives
holding for less than that is *late* (queued while the broker was down, or retained from
before): nothing fresher may follow before it ends, so it only lowers the child, never raises
it: raised on it, the child's EVs would be cut back to the safe budget moments later, before
the budget that follows could reach them.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_controller.domain.gateways.messages import BudgetMessage
from edge_controller.domain.model import Phases3


@dataclass(frozen=True, slots=True)
class HeldBudget:
    """A budget the child took, and until when (the child's monotonic clock) it holds; a late
    one gives no more than the child ran on when it arrived (``cap_a``)."""

    message: BudgetMessage
    valid_until_s: float
    late: bool = False
    cap_a: Phases3 | None = None  # a late budget's: None, the safe budget


@dataclass(frozen=True, slots=True)
class EffectiveBudget:
    """What the child's connectors may draw together now; ``applied`` is the budget's
    (epoch, version), None on the safe budget."""

    current_a: Phases3
    power_w: float | None
    source: str
    applied: tuple[str, int] | None


def newer(message: BudgetMessage, last: BudgetMessage | None) -> bool:
    """Whether ``message`` supersedes the last budget taken: a higher version of the same run
    of the parent, or a later issue from another run (the parent restarted)."""
    if last is None:
        return True
    if message.epoch == last.epoch:
        return message.version > last.version
    return message.issued_at_s > last.issued_at_s


def renewal_s(lease_s: float) -> float:
    """How often the parent renews a budget of this lease; a budget older than this is late."""
    return lease_s / 3


def hold(
    message: BudgetMessage,
    received_s: float,
    wall_s: float,
    tolerance_s: float,
    running_a: Phases3 | None = None,
) -> HeldBudget | None:
    """The budget as held from ``received_s`` (monotonic; ``wall_s`` the wall clock then);
    None if its lease is already over. ``running_a``: what the child runs on now (None: its
    safe budget, as if nothing held), the most a late budget gives it."""
    left_by_wall_s = message.issued_at_s + message.lease_s + tolerance_s - wall_s
    left_s = min(message.lease_s, left_by_wall_s)
    if left_s <= 0:
        return None
    late = left_s < renewal_s(message.lease_s)
    return HeldBudget(message, received_s + left_s, late, running_a if late else None)


def effective_budget(
    held: HeldBudget | None, now_s: float, feeder_limit_a: float, safe_budget_a: float
) -> EffectiveBudget:
    """The held budget while it holds, else the safe budget; never above the feeder."""
    if held is None or now_s >= held.valid_until_s:
        safe_a = min(safe_budget_a, feeder_limit_a)
        why = "no budget" if held is None else f"budget v{held.message.version} expired"
        return EffectiveBudget((safe_a, safe_a, safe_a), None, f"safe budget ({why})", None)
    message = held.message
    cap_a = message.current_a
    if held.late:
        cap_a = held.cap_a or (safe_budget_a, safe_budget_a, safe_budget_a)
    a, b, c = (min(message.current_a[p], cap_a[p], feeder_limit_a) for p in range(3))
    return EffectiveBudget(
        (a, b, c),
        message.power_w,
        f"parent budget v{message.version}" + (" (late: raises nothing)" if held.late else ""),
        (message.epoch, message.version),
    )
