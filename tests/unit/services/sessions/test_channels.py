"""The session side on its channels, as the composition root wires it: charger statuses come
through the status relay (latest per connector wins), and the CSMS's answer to a started
transaction comes through ``transaction_confirmed`` (StopTransactionOnInvalidId)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge_controller.domain.commands import Origin, StartSession
from edge_controller.domain.model import CpState, MeterReading
from edge_controller.domain.sessions.authorization import AuthPolicy, AuthStatus
from edge_controller.domain.sessions.state import Phase
from edge_controller.services.control.status_relay import StatusRelay
from edge_controller.storage.auth_store import AuthStore
from tests.unit.services.sessions.fixtures import CounterMeter, Rig, make_rig, status


async def until(check: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    for _ in range(500):
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached: {what}")


async def test_statuses_pushed_by_the_control_loop_reach_the_session_side(tmp_path: Path) -> None:
    relay = StatusRelay()
    rig = await make_rig(tmp_path / "edge.db", statuses=relay)
    try:
        assert (await rig.manager.start(StartSession("cp1:1", "X", Origin.CSMS))).ok
        relay.push("cp1:1", status(CpState.A))
        relay.push("cp1:1", status(CpState.C))  # the loop moved on: only the latest counts
        relay.push("cp1:2", status(CpState.B))
        assert set(await relay.next_batch()) == {"cp1:1", "cp1:2"}  # one per connector
        relay.push("cp1:1", status(CpState.C))
        relay.push("cp1:2", status(CpState.B))
        runner = asyncio.create_task(rig.manager.run(0.05))
        try:
            await until(lambda: rig.manager.phase("cp1:1") is Phase.ACTIVE, "session open")
            assert rig.manager.phase("cp1:2") is Phase.WAIT_AUTH
        finally:
            runner.cancel()
    finally:
        await rig.db.close()


@pytest.mark.parametrize("stop_on_invalid", [True, False])
async def test_a_transaction_the_csms_refuses_ends_as_the_rule_says(
    tmp_path: Path, stop_on_invalid: bool
) -> None:
    rig = await make_rig(tmp_path / "edge.db", policy=AuthPolicy(stop_on_invalid=stop_on_invalid))
    try:
        assert (await rig.manager.start(StartSession("cp1:1", "X", Origin.CSMS))).ok
        await rig.manager.on_charger_status("cp1:1", status(CpState.C))
        record = rig.manager.open_session("cp1:1")
        assert record is not None
        runner = asyncio.create_task(rig.manager.run(0.05))
        try:
            rig.manager.transaction_confirmed(record.local_id, 17, "Accepted")
            rig.manager.transaction_confirmed(record.local_id, 17, "Invalid")
            if stop_on_invalid:
                await until(lambda: rig.manager.open_session("cp1:1") is None, "stopped")
                (closed,) = await rig.store.recent()
                assert closed.stop_reason == "DeAuthorized"
            else:
                await until(lambda: _cached_invalid(rig), "answer remembered")
                assert rig.manager.open_session("cp1:1") is not None
        finally:
            runner.cancel()
    finally:
        await rig.db.close()


async def _cached_invalid(rig: Rig) -> bool:
    entry = await AuthStore(rig.db).cached("X")
    return entry is not None and entry.status is AuthStatus.INVALID


@dataclass
class HeldMeter(CounterMeter):
    """A meter whose reads wait for ``release``; counts the reads waiting together."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: list[int] = field(default_factory=lambda: [0, 0])  # now, most (shared)

    async def read(self) -> MeterReading:
        self.waiting[0] += 1
        self.waiting[1] = max(self.waiting[1], self.waiting[0])
        try:
            await self.release.wait()
        finally:
            self.waiting[0] -= 1
        return await super().read()


async def test_evs_plugged_together_start_together(tmp_path: Path) -> None:
    """Each start reads its meter and waits for its commit: one connector after the other,
    1,000 EVs plugged at once started at about one a second on a busy disk."""
    connectors = tuple(f"cp{n}:1" for n in range(1, 9))
    release, waiting = asyncio.Event(), [0, 0]
    meters = {c: HeldMeter(release=release, waiting=waiting) for c in connectors}
    relay = StatusRelay()
    rig = await make_rig(
        tmp_path / "edge.db", policy=AuthPolicy(free_vend_id_tag="FREE"),
        connectors=connectors, meters=dict(meters), statuses=relay,
    )  # fmt: skip
    runner = asyncio.create_task(rig.manager.run(0.05))
    try:
        for cid in connectors:
            relay.push(cid, status(CpState.B))
        await until(lambda: waiting[1] == len(connectors), "every start reading its meter")
        release.set()
        await until(
            lambda: all(rig.manager.open_session(c) for c in connectors), "every session open"
        )
    finally:
        runner.cancel()
        await rig.db.close()
