"""Safety when information or the daemon itself is lost: stale grid meter, killed daemon."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.checks import charging, describe, offers_a
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.site import (
    CONNECTORS,
    FAILSAFE_CURRENT_A,
    FAILSAFE_TIMEOUT_S,
    WATCHDOG_CHARGERS,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

MARGIN_S = 10.0  # polling, bus timeouts and a busy machine on top of the configured limit


async def offers_above(
    site: E2ESite, connectors: tuple[str, ...], current_a: float, at_least: int | None = None
) -> None:
    """Until ``at_least`` (default: all) of ``connectors`` charge with more than ``current_a``."""
    wanted = len(connectors) if at_least is None else at_least

    async def check() -> bool:
        state = await site.state()
        offers, active = offers_a(state), charging(state)
        return sum(offers[c] > current_a and c in active for c in connectors) >= wanted

    await eventually(check, f"{wanted} of {connectors} charging above {current_a} A", 40)


async def test_silent_grid_meter_brings_every_offer_to_the_fallback(
    launch: Launch, config: dict[str, Any]
) -> None:
    fallback_a = float(config["site"]["fallback_current_a"])
    stale_s = float(config["site"]["grid_stale_s"])
    site = await launch(config, plugged=CONNECTORS)
    await offers_above(site, CONNECTORS, fallback_a, at_least=1)  # the fallback will show

    await site.control.inject_fault("grid", "no_answer")

    async def all_at_fallback() -> bool:
        view = await site.status()
        age_s = view.grid_reading_age_s
        stale = age_s is None or age_s >= stale_s  # not a regulation dip that happens anyway
        daemon_ok = stale and all(c.offered_current_a <= fallback_a for c in view.connectors)
        return daemon_ok and all(a <= fallback_a for a in offers_a(await site.state()).values())

    await eventually(all_at_fallback, "every offer at most the fallback", stale_s + MARGIN_S)
    for _ in range(8):  # and it stays there while the meter is silent
        state, view = await site.state(), await site.status()
        reasons = [(c.connector_id, c.offered_current_a, c.limit_reason) for c in view.connectors]
        why = f"{describe(state)}; daemon: {reasons}, age {view.grid_reading_age_s}"
        assert all(a <= fallback_a for a in offers_a(state).values()), why
        await asyncio.sleep(0.25)

    await site.control.clear_faults("grid")
    await offers_above(site, CONNECTORS, fallback_a, at_least=1)  # fresh readings lift it


async def test_killed_daemon_leaves_chargers_to_their_watchdogs(
    launch: Launch, config: dict[str, Any]
) -> None:
    watched = tuple(c for c in CONNECTORS if c.split(":")[0] in WATCHDOG_CHARGERS)
    site = await launch(config, plugged=watched)
    await offers_above(site, watched, FAILSAFE_CURRENT_A)  # so the failsafe current shows
    state = await site.state()
    assert not any(state["connectors"][c]["failsafe_active"] for c in watched), describe(state)

    site.kill_daemon()  # SIGKILL: no orderly shutdown, no last write

    async def on_failsafe() -> bool:
        connectors = (await site.state())["connectors"]
        return all(
            connectors[c]["failsafe_active"] and connectors[c]["offered_a"] == FAILSAFE_CURRENT_A
            for c in watched
        )

    await eventually(
        on_failsafe, "chargers on their failsafe current", FAILSAFE_TIMEOUT_S + MARGIN_S
    )


async def test_killed_daemon_leaves_evs_waiting_for_a_card_without_current(
    launch: Launch, config: dict[str, Any]
) -> None:
    config["ocpp"] = {"authorization": {}}  # no free vend: a plugged EV waits for a card
    waiting = tuple(c for c in CONNECTORS if c.split(":")[0] in WATCHDOG_CHARGERS)
    site = await launch(config, plugged=waiting)

    async def fallback_programmed_to_0_a() -> bool:
        devices = [await site.control.device(charger) for charger in WATCHDOG_CHARGERS]
        return all(device["points"]["failsafe_current"] == 0.0 for device in devices)

    await eventually(fallback_programmed_to_0_a, "every watchdog falls back to 0 A", 20)
    site.kill_daemon()  # SIGKILL: no orderly shutdown, no last write

    async def watchdogs_took_over() -> bool:
        connectors = (await site.state())["connectors"]
        return all(connectors[c]["failsafe_active"] for c in waiting)

    await eventually(watchdogs_took_over, "watchdogs expired", FAILSAFE_TIMEOUT_S + MARGIN_S)
    for _ in range(8):  # and nothing charges, also after the EVs' response delay
        state = await site.state()
        for cid in waiting:
            connector = state["connectors"][cid]
            assert connector["offered_a"] == 0.0, describe(state)
            assert connector["state"] == "B" and max(connector["drawn_a"]) == 0.0, describe(state)
        await asyncio.sleep(0.25)
