"""The session side's tick gives a task only to the connectors with something due (a timeout, a
sample, a CSMS limit, a transaction to begin or end); what is due still happens at the first
tick after it is due."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from pathlib import Path
from typing import Any

from edge_controller.domain.commands import ChangeSessionRules, StartSession
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.events import EvConnected, MeterSampled
from edge_controller.domain.sessions.state import Phase
from tests.unit.services.sessions.fixtures import Rig, make_rig, status

CONNECTORS = tuple(f"cp{n}:1" for n in range(1, 11))


async def _tasks_of_tick(rig: Rig) -> int:
    """How many tasks one tick of the session side made."""
    loop = asyncio.get_running_loop()
    made = 0

    def counting(
        loop: asyncio.AbstractEventLoop, coro: Generator[Any, None, Any] | Coroutine[Any, Any, Any]
    ) -> asyncio.Task[Any]:
        nonlocal made
        made += 1
        return asyncio.Task(coro, loop=loop)

    loop.set_task_factory(counting)
    try:
        await rig.manager.tick()
    finally:
        loop.set_task_factory(None)
    return made


async def _samples(rig: Rig) -> list[tuple[float, float]]:
    out = []
    while (msg := await rig.outbox.peek("site")) is not None:
        if isinstance(msg.event, MeterSampled):
            out.append((msg.event.at_s, msg.event.readings[0].value))
        await rig.outbox.ack(msg.seq)
    return out


async def test_a_tick_wakes_no_connector_with_nothing_due(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path / "edge.db", connectors=CONNECTORS)
    for cid in CONNECTORS[:5]:  # five sessions charging, five connectors free
        await rig.manager.start(StartSession(cid, "LOCAL1" if cid == CONNECTORS[0] else "X"))
        await rig.manager.on_charger_status(cid, status(CpState.C))
    assert [rig.manager.phase(c) for c in CONNECTORS[:5]] == [Phase.ACTIVE] * 5
    await _samples(rig)
    for _ in range(3):
        rig.clock.now_s += 1
        assert await _tasks_of_tick(rig) == 0
    await rig.db.close()


async def test_a_due_sample_and_a_timeout_come_at_the_first_tick_they_are_due(
    tmp_path: Path,
) -> None:
    rig = await make_rig(tmp_path / "edge.db", connectors=CONNECTORS)
    started_s = rig.clock.now_s
    await rig.manager.start(StartSession("cp1:1", "LOCAL1"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    rig.csms.answers["11223344"] = AuthEntry("11223344", AuthStatus.ACCEPTED)
    await rig.manager.on_token(Token("11223344"), "cp2:1")  # waits 60 s for its EV
    await _samples(rig)
    rig.clock.now_s = started_s + 59.5
    assert await _tasks_of_tick(rig) == 0
    assert rig.manager.phase("cp2:1") is Phase.WAIT_PLUG
    rig.meters["cp1:1"].energy_wh = 1500.0
    rig.clock.now_s = started_s + 60.0
    assert await _tasks_of_tick(rig) >= 2  # the two connectors with something due
    assert rig.manager.phase("cp2:1") is Phase.IDLE
    assert rig.manager.plug_wait("cp2:1") is None
    assert await _samples(rig) == [(started_s + 60.0, 1500.0)]
    await rig.db.close()


async def test_a_start_point_switched_on_begins_a_waiting_evs_transaction_at_the_next_tick(
    tmp_path: Path,
) -> None:
    """Nothing changed at the connector itself: the rule did, and the tick applies it."""
    rig = await make_rig(tmp_path / "edge.db", connectors=CONNECTORS)
    await rig.manager.on_charger_status("cp3:1", status(CpState.B))
    assert rig.manager.phase("cp3:1") is Phase.WAIT_AUTH
    rig.clock.now_s += 1
    assert await _tasks_of_tick(rig) == 0
    rig.manager.change_rules(ChangeSessionRules(start_at_plug=True))
    rig.clock.now_s += 1
    await rig.manager.tick()
    msg = await rig.outbox.peek("site")
    assert msg is not None and isinstance(msg.event, EvConnected)
    assert msg.event.connector_id == "cp3:1" and msg.event.at_s == rig.clock.now_s
    assert rig.gate.allowed("cp3:1") is None  # a transaction, never charging unauthorised
    await rig.db.close()
