"""Site load balancing, pure: ``allocate(site, demands, grid=..., previous=..., now_s=...)``
gives every connector its offer with the reason that bounds it (see ``allocate``).

Modules: ``types`` (value types), ``wiring`` (phase rotation), ``allocate`` (the decision) and
its steps ``offers`` (each connector's offer, own cap and admission order), ``budget`` (fixed
loads), ``share`` (admission, classes), ``fill`` (water-filling), ``tree`` (the limit tree and
what is left of it), ``settle`` (increases while lowered EVs follow);
``caution`` (increases a misaligned reading pair seems to allow) over ``readings`` (a meter's
recent readings, as doubles), ``ev_phases`` (the phases an EV draws on), ``views`` (charger
reports to balancing states and status views).
"""

from edge_controller.domain.balancing.allocate import DEFAULT_POLICY, OVER_A, allocate
from edge_controller.domain.balancing.budget import building_load, failsafe_problems
from edge_controller.domain.balancing.caution import (
    bracketed,
    hold_unconfirmed_increases,
    rises,
)
from edge_controller.domain.balancing.ev_phases import (
    PhaseEvidence,
    PhaseRule,
    learn_phases,
    phases_in_use,
)
from edge_controller.domain.balancing.offers import OfferRecords
from edge_controller.domain.balancing.readings import RecentReadings, Sample
from edge_controller.domain.balancing.types import (
    EPS_A,
    Allocation,
    ConnectorAllocation,
    ConnectorDemand,
    DemandState,
    Feeder,
    GridReading,
    Policy,
    Site,
)
from edge_controller.domain.balancing.views import availability, demand_state
from edge_controller.domain.balancing.wiring import (
    reading_to_grid_phases,
    to_grid_phases,
    wiring_from_rotation,
)

__all__ = [
    "DEFAULT_POLICY",
    "EPS_A",
    "OVER_A",
    "Allocation",
    "ConnectorAllocation",
    "ConnectorDemand",
    "DemandState",
    "Feeder",
    "GridReading",
    "OfferRecords",
    "PhaseEvidence",
    "PhaseRule",
    "Policy",
    "RecentReadings",
    "Sample",
    "Site",
    "allocate",
    "availability",
    "bracketed",
    "building_load",
    "demand_state",
    "failsafe_problems",
    "hold_unconfirmed_increases",
    "learn_phases",
    "phases_in_use",
    "reading_to_grid_phases",
    "rises",
    "to_grid_phases",
    "wiring_from_rotation",
]
