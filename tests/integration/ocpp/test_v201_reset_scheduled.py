"""A Reset OnIdle answered Scheduled while a transaction runs (B12) against the schema-strict
CSMS: the reset stays scheduled when the connection drops meanwhile, and the station resets
once the transaction has ended, on the connection made after the loss.

A restart of the process is a reset itself (everything starts afresh and boots again), so a
scheduled reset is not kept across one: the new process boots once and does not reset again
when the transaction ends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.snapshot import Availability
from edge_controller.uplink.link import IdentityLink
from tests.integration.ocpp.harness import (
    IDENTITY,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.relay import relay
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.integration.ocpp.test_v201_remote import (
    CHARGERS,
    VERSIONS,
    _last_status,
    _stops,
    ask,
    site_with,
)

pytestmark = pytest.mark.integration
IDLE_POLLS_S = 1.5  # several of the reset's looks at the transactions (every 0.5 s)


def _connects(peer: StrictPeer) -> int:
    return len([e for e in peer.events if e["event"] == "connect"])


def _boot_reasons(peer: StrictPeer) -> list[str]:
    return [str(c["params"]["reason"]) for c in peer.calls("BootNotification")]


def _followups_taken(link: IdentityLink) -> bool:
    """The Reset's follow-up was taken up on this connection (it now waits for idle)."""
    return not link.staged and not link.followups


async def _schedule_reset(peer: StrictPeer, links: dict[str, Any]) -> str:
    status = await ask(peer, "Reset", {"type": "OnIdle"})
    await wait_for(lambda: _followups_taken(links[IDENTITY]))
    return status


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_a_reset_scheduled_before_a_connection_loss_is_done_once_idle(
    tmp_path: Path, version: str, protocol: str
) -> None:
    site = site_with(Availability.CHARGING, session_id="7")
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        strict_peer(protocols=protocol) as peer,
        relay(peer.port) as path,
    ):
        settings = settings_for(f"ws://127.0.0.1:{path.port}", version=version)
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            scheduled = await _schedule_reset(peer, uplink.links)
            path.cut()
            await wait_for(lambda: not uplink.online)
            path.restore()
            await wait_for(lambda: _connects(peer) == 2 and uplink.online)
            await asyncio.sleep(IDLE_POLLS_S)  # still charging: the reset must go on waiting
            boots_while_charging = _boot_reasons(peer)
            site.set("c2:1", Availability.AVAILABLE, session_id=None)  # the EV leaves
            await wait_for(lambda: len(peer.calls("BootNotification")) == 2)
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            assert not uplink.links[IDENTITY].reset_scheduled  # done: not again
    assert scheduled == "Scheduled"
    # One boot on the first connection; the one after the loss is no boot (2.x boots once a
    # process), and the reset's boot comes only after the transaction ended.
    assert boots_while_charging == ["PowerUp"]
    assert _boot_reasons(peer) == ["PowerUp", "RemoteReset"]
    assert _stops(site) == []  # the transaction ended as it would have: the reset stopped none
    assert peer.invalid() == []


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_a_restart_is_the_scheduled_reset_and_none_follows(
    tmp_path: Path, version: str, protocol: str
) -> None:
    site = site_with(Availability.CHARGING, session_id="7")
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        strict_peer(protocols=protocol) as peer,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            scheduled = await _schedule_reset(peer, uplink.links)
        # The process ends with the transaction still running; a new one starts on its state.
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: len(peer.calls("BootNotification")) == 2)
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            site.set("c2:1", Availability.AVAILABLE, session_id=None)  # the EV leaves
            await wait_for(lambda: _last_status(peer, 2) == "Available")
            await asyncio.sleep(IDLE_POLLS_S)  # a reset still scheduled would boot by now
            assert not uplink.links[IDENTITY].reset_scheduled
    assert scheduled == "Scheduled"
    assert _boot_reasons(peer) == ["PowerUp", "PowerUp"]
    assert _stops(site) == []
    assert peer.invalid() == []
