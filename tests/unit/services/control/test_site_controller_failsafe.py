"""The chargers' own fallback follows the session: nobody charges unasked when the daemon dies.

A charger's watchdog falls back to a programmed current when our writes stop. Without an
authorised session that is 0 A (an EV waiting for a card stays waiting), with one it is the
connector's safe current; free vend is the one exception (any EV may charge). Orderly shutdown
leaves the same. In-memory ports (our own edge, see test_site_controller); the simulated
chargers over Modbus are in tests/integration/sim/test_failsafe_follows_session.py.
"""

from __future__ import annotations

from edge_controller.domain.balancing import Site
from edge_controller.domain.model import CpState
from edge_controller.services.control.site_controller import (
    Clocks,
    ConnectorSetup,
    SiteController,
)
from tests.unit.services.control.test_site_controller import Clock, GridMeter, MemoryCharger, Rig

SAFE_A, TIMEOUT_S = 6.0, 15.0


def _rig(*, free_vend: bool = False) -> Rig:
    clock, log = Clock(), list[tuple[str, float]]()
    chargers = [MemoryCharger(f"c{i}:1", log, state=CpState.B) for i in (1, 2)]
    setups = [
        ConnectorSetup(c.name, c, failsafe_current_a=SAFE_A, failsafe_timeout_s=TIMEOUT_S,
                       authorized_at_start=False, free_vend=free_vend)
        for c in chargers
    ]  # fmt: skip
    meter = GridMeter(chargers)
    controller = SiteController("t", Site(grid_limit_a=32.0), setups, meter, clocks=Clocks(clock))
    return Rig(clock, chargers, meter, controller, log)


def _fallbacks(rig: Rig) -> list[float | None]:
    return [c.failsafe[-1][0] if c.failsafe else None for c in rig.chargers]


async def test_the_fallback_is_0_a_without_a_session_and_follows_it() -> None:
    rig = _rig()
    await rig.advance(0)
    assert _fallbacks(rig) == [0.0, 0.0]  # two EVs waiting for a card
    assert rig.chargers[0].failsafe[-1] == (0.0, TIMEOUT_S)
    rig.controller.authorize_charging("c1:1", True)
    await rig.advance(1)
    assert _fallbacks(rig) == [SAFE_A, 0.0]
    rig.controller.authorize_charging("c1:1", False)  # the session stops
    await rig.advance(1)
    assert _fallbacks(rig) == [0.0, 0.0]
    programmed = [len(c.failsafe) for c in rig.chargers]
    await rig.advance(1)
    assert [len(c.failsafe) for c in rig.chargers] == programmed  # written on change only


async def test_a_stopping_session_loses_its_fallback_before_its_setpoint_goes_down() -> None:
    rig = _rig()
    order: list[str] = []
    charger = rig.chargers[0]
    set_current, program = charger.set_current, charger.program_failsafe

    async def logged_set(current_a: float) -> None:
        order.append(f"set {current_a:g}")
        await set_current(current_a)

    async def logged_program(current_a: float, timeout_s: float) -> None:
        order.append(f"fallback {current_a:g}")
        await program(current_a, timeout_s)

    charger.set_current = logged_set  # type: ignore[method-assign]
    charger.program_failsafe = logged_program  # type: ignore[method-assign]
    await rig.advance(0)
    rig.controller.authorize_charging("c1:1", True)
    await rig.advance(1)
    assert order[-2:] == ["set 32", f"fallback {SAFE_A:g}"]  # up: the setpoint first
    rig.controller.authorize_charging("c1:1", False)
    await rig.advance(1)
    assert order[-2:] == ["fallback 0", "set 0"]  # down: the fallback first


async def test_free_vend_keeps_the_safe_current_without_a_session() -> None:
    rig = _rig(free_vend=True)
    await rig.advance(0)
    assert _fallbacks(rig) == [SAFE_A, SAFE_A]


async def test_shutdown_gives_the_safe_current_only_to_authorised_sessions() -> None:
    rig = _rig()
    await rig.advance(0)
    rig.controller.authorize_charging("c2:1", True)
    await rig.advance(1)
    await rig.controller.shutdown()
    assert rig.offered() == [0.0, SAFE_A]
    assert _fallbacks(rig) == [0.0, SAFE_A]


async def test_shutdown_with_free_vend_leaves_every_connector_its_safe_current() -> None:
    rig = _rig(free_vend=True)
    await rig.advance(0)
    await rig.controller.shutdown()
    assert rig.offered() == [SAFE_A, SAFE_A]


async def test_a_charger_back_from_silence_is_programmed_again_for_its_session() -> None:
    rig = _rig()
    await rig.advance(0)
    rig.chargers[0].answering = False
    for _ in range(6):
        await rig.advance(1)
    rig.controller.authorize_charging("c1:1", True)  # a session starts meanwhile
    rig.chargers[0].answering = True
    await rig.advance(1)
    assert _fallbacks(rig)[0] == SAFE_A
