"""An identity without charging profiles costs its pacer nothing to await: its look notes when
each running session was first seen and is done, with no evaluation to run in a task and no
database read of the CSMS's transaction id. A relative profile that comes later still counts
from the start seen then."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from edge_controller.domain.model import Limit
from edge_controller.domain.snapshot import Availability, ConnectorState, ConnectorView
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.link import IdentityCore
from edge_controller.uplink.ports import Station, states_among, views_among
from edge_controller.uplink.smart import SmartCharging
from edge_controller.uplink.state_file import OcppStateFile
from edge_controller.uplink.topology import Topology

CID = "cp1:1"
AT_S = 1_700_000_000.0


class _Site:
    def __init__(self) -> None:
        self.view = ConnectorView(CID, Availability.AVAILABLE, 16.0, "")

    def connectors(self) -> Sequence[ConnectorView]:
        return [self.view]

    def connectors_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorView]:
        return views_among(self.connectors(), connector_ids)

    def states_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorState]:
        return states_among(self.connectors(), connector_ids)

    def reservation_ids(self) -> frozenset[int]:
        return frozenset()


class _Outbox:
    """Only the CSMS's transaction id is read, and counted."""

    def __init__(self) -> None:
        self.reads = 0

    async def remote_transaction_id(self, session_local_id: int) -> int | None:
        self.reads += 1
        return 70 + session_local_id

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the outbox's {name} is not used here")


class _Limits:
    def __init__(self) -> None:
        self.pushed: list[tuple[str, dict[str, Limit], Limit | None]] = []

    def set_external_limits(
        self, scope: str, connectors: Mapping[str, Limit], total: Limit | None
    ) -> None:
        self.pushed.append((scope, dict(connectors), total))


class _Clock:
    def __init__(self) -> None:
        self.now_s = AT_S

    def __call__(self) -> float:
        return self.now_s


def _relative(limits_a: tuple[float, float], second_from_s: int) -> dict[str, Any]:
    periods = [{"startPeriod": 0, "limit": limits_a[0]},
               {"startPeriod": second_from_s, "limit": limits_a[1]}]  # fmt: skip
    return {
        "chargingProfileId": 5,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": periods},
    }


async def test_without_profiles_a_look_leaves_nothing_to_await(tmp_path: Path) -> None:
    outbox, limits, clock = _Outbox(), _Limits(), _Clock()
    core = IdentityCore(
        "cp1",
        Topology("cp1", "per_charger", {"cp1": 1}),
        OcppStateFile(tmp_path / "ocpp-cp1.json", {}),
        _Site(),
        outbox,  # type: ignore[arg-type]
        ClockSync(),
        clock,
    )
    site = core.status
    assert isinstance(site, _Site)
    asked: list[SmartCharging] = []
    smart = SmartCharging(core, limits, Station(), asked.append)

    first = smart.look()  # the first evaluation says there are no limits
    assert first is not None
    await first
    assert limits.pushed == [("cp1", {}, None)]
    reads = outbox.reads

    clock.now_s += 5
    site.view = ConnectorView(CID, Availability.CHARGING, 16.0, "", session_id="3")
    assert smart.look() is None  # nothing to evaluate: no task, no database read
    clock.now_s += 5
    assert smart.look() is None
    assert outbox.reads == reads and limits.pushed == [("cp1", {}, None)]

    # 95 s after the session was first seen, a profile of 10 A for its first 60 s, then 20 A.
    clock.now_s = AT_S + 100
    smart.store.install(1, _relative((10.0, 20.0), 60))
    assert asked == [smart]  # evaluated at once
    evaluation = smart.look()
    assert evaluation is not None
    await evaluation
    assert limits.pushed[-1] == ("cp1", {CID: Limit(20.0, "csms profile 5")}, None)
    assert outbox.reads == reads + 1  # the transaction's id, to bind the profile to it
