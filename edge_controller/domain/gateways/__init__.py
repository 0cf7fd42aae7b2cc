"""Several gateways behind one grid connection, pure: the parent hands each child a budget
(current per grid phase, optionally power) with a lease; a child allocates its own connectors
within it and falls back to its safe budget when the lease runs out.

Modules: ``messages`` (the budget and demand messages, their bounds and validation), ``lease``
(a child's effective budget), ``parent`` (the parent's decision: children as feeders of its
limit tree, silent ones counted at their last budget, then at their safe budget).
"""

from edge_controller.domain.gateways.lease import (
    EffectiveBudget,
    HeldBudget,
    effective_budget,
    hold,
    newer,
    renewal_s,
)
from edge_controller.domain.gateways.messages import (
    DEMAND_DELAY_S,
    DEMAND_SEND_WITHIN_S,
    DEMAND_TRANSIT_S,
    MAX_BUDGET_BYTES,
    MAX_DEMAND_BYTES,
    BudgetMessage,
    ChildDemand,
    DemandEntry,
    MessageError,
    demand_of,
    draw_of,
    encode_budget,
    encode_demand,
    parse_budget,
    parse_demand,
)
from edge_controller.domain.gateways.parent import (
    ChildFeeder,
    ChildReport,
    Decision,
    Fallbacks,
    Issued,
    ParentInputs,
    ParentSetup,
    ParentState,
    ParentTiming,
    decide_budgets,
    fallbacks,
    fit,
    gateway_site,
    remembering,
)

__all__ = [
    "DEMAND_DELAY_S",
    "DEMAND_SEND_WITHIN_S",
    "DEMAND_TRANSIT_S",
    "MAX_BUDGET_BYTES",
    "MAX_DEMAND_BYTES",
    "BudgetMessage",
    "ChildDemand",
    "ChildFeeder",
    "ChildReport",
    "Decision",
    "DemandEntry",
    "EffectiveBudget",
    "Fallbacks",
    "HeldBudget",
    "Issued",
    "MessageError",
    "ParentInputs",
    "ParentSetup",
    "ParentState",
    "ParentTiming",
    "decide_budgets",
    "demand_of",
    "draw_of",
    "effective_budget",
    "encode_budget",
    "encode_demand",
    "fallbacks",
    "fit",
    "gateway_site",
    "hold",
    "newer",
    "parse_budget",
    "parse_demand",
    "remembering",
    "renewal_s",
]
