"""A charger status that would change nothing at the session side (the same status, the same
session state, nothing else changed since) is not handled again: each status read of a
charging EV came to the session side. Any change of the status, the state, the open session or
the rules is handled, and the energy-end rule still follows the EV."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from edge_controller.domain.commands import ChangeSessionRules, Origin, StartSession
from edge_controller.domain.model import CpState
from edge_controller.domain.sessions.state import Phase
from edge_controller.services.control.status_relay import StatusRelay
from tests.unit.services.sessions.fixtures import Rig, make_rig, status
from tests.unit.services.sessions.test_channels import until

CONNECTORS = ("cp1:1", "cp1:2", "cp1:3")


class Handled:
    """Counts the statuses the session side handled, by the tasks made for them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Generator[Any, None, Any] | Coroutine[Any, Any, Any],
    ) -> asyncio.Task[Any]:
        if getattr(coro, "__qualname__", "") == "SessionManager.on_charger_status":
            self.count += 1
        return asyncio.Task(coro, loop=loop)


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[tuple[Rig, StatusRelay, Handled]]:
    relay, handled = StatusRelay(), Handled()
    rig = await make_rig(tmp_path / "edge.db", connectors=CONNECTORS, statuses=relay)
    loop = asyncio.get_running_loop()
    loop.set_task_factory(handled)
    runner = asyncio.create_task(rig.manager.run(3600.0))
    try:
        yield rig, relay, handled
    finally:
        loop.set_task_factory(None)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await rig.db.close()


async def pushed(rig: Rig, relay: StatusRelay, cid: str, state: CpState) -> None:
    """Push a status for ``cid`` with a plug-in at cp1:3 in the same batch, and wait for that
    plug-in to be seen: the batch was handled."""
    relay.push(cid, status(state))
    relay.push("cp1:3", status(CpState.B))
    await until(lambda: rig.manager.phase("cp1:3") is Phase.WAIT_AUTH, "batch handled")
    relay.push("cp1:3", status(CpState.A))
    await until(lambda: rig.manager.phase("cp1:3") is Phase.IDLE, "plug-in gone")


async def test_a_charging_evs_unchanged_status_is_handled_once(tmp_path: Path) -> None:
    async with running(tmp_path) as (rig, relay, handled):
        assert (await rig.manager.start(StartSession("cp1:1", "X", Origin.CSMS))).ok
        await pushed(rig, relay, "cp1:1", CpState.C)
        assert rig.manager.phase("cp1:1") is Phase.ACTIVE
        await pushed(rig, relay, "cp1:1", CpState.C)  # handled: it changes nothing, as is known now
        before = handled.count
        for _ in range(3):
            await pushed(rig, relay, "cp1:1", CpState.C)
        assert handled.count - before == 6  # cp1:3's plug-ins and unplugs alone
        await pushed(rig, relay, "cp1:1", CpState.B)  # the EV pauses: a change
        assert handled.count - before == 9


async def test_the_energy_end_rule_follows_an_ev_charging_since_before_its_session(
    tmp_path: Path,
) -> None:
    """The EV's status stays C while its session opens: handled again with the new state,
    so its stop of drawing ends the session."""
    async with running(tmp_path) as (rig, relay, _):
        rig.manager.change_rules(ChangeSessionRules(stop_at_energy_end=True))
        await pushed(rig, relay, "cp1:2", CpState.B)
        await pushed(rig, relay, "cp1:2", CpState.C)
        await pushed(rig, relay, "cp1:2", CpState.C)
        assert (await rig.manager.start(StartSession("cp1:2", "X", Origin.CSMS))).ok
        assert rig.manager.phase("cp1:2") is Phase.ACTIVE
        await pushed(rig, relay, "cp1:2", CpState.C)
        await pushed(rig, relay, "cp1:2", CpState.B)
        assert rig.manager.open_session("cp1:2") is None
        (closed,) = await rig.store.recent()
        assert closed.stop_reason == "StoppedByEV"
