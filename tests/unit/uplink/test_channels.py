"""The uplink's channels, made before both of their ends: the outbox wake-up (one set wakes
every identity's sender, or only the one whose messages were queued) and the CSMS Authorize
requests of the session side."""

from __future__ import annotations

import asyncio

import pytest

from edge_controller.domain.sessions.authorization import AuthEntry, AuthResult, AuthStatus
from edge_controller.uplink.authorization import CsmsAuthorization
from edge_controller.uplink.wakeup import OutboxWakeup


async def test_one_outbox_wake_up_wakes_every_identitys_sender() -> None:
    channel = OutboxWakeup()
    first, second = channel.subscribe(), channel.subscribe()
    channel.set()  # before anyone waits: not lost
    assert await first.wait(10) and await second.wait(10)
    assert not await first.wait(0.01)


async def test_messages_of_one_identity_wake_only_its_sender() -> None:
    channel = OutboxWakeup()
    cp1, cp2, every = channel.subscribe("cp1"), channel.subscribe("cp2"), channel.subscribe()
    channel.set("cp1")
    assert await cp1.wait(10) and await every.wait(10)
    assert not await cp2.wait(0.01)
    channel.set()  # of any identity: all of them
    assert await cp1.wait(10) and await cp2.wait(10) and await every.wait(10)


async def test_authorize_requests_are_answered_while_served_and_at_once_when_full() -> None:
    channel = CsmsAuthorization(maxsize=1)
    asked: list[tuple[str, bool]] = []

    async def csms(id_tag: str, key_code: bool) -> AuthResult | None:
        asked.append((id_tag, key_code))
        return AuthEntry(id_tag, AuthStatus.ACCEPTED if id_tag == "GOOD" else AuthStatus.INVALID)

    waiting = asyncio.create_task(channel.authorize("GOOD"))
    await asyncio.sleep(0)
    assert await channel.authorize("EXTRA") is None  # the queue is full: no answer, at once
    server = asyncio.create_task(channel.serve(csms))
    try:
        assert await waiting == AuthEntry("GOOD", AuthStatus.ACCEPTED)
        assert await channel.authorize("BAD", key_code=True) == AuthEntry("BAD", AuthStatus.INVALID)
    finally:
        server.cancel()
    assert asked == [("GOOD", False), ("BAD", True)]  # a typed code is asked about as one


async def test_a_requester_that_gives_up_cancels_its_csms_call() -> None:
    channel = CsmsAuthorization()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_csms(id_tag: str, key_code: bool) -> AuthResult | None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return None

    server = asyncio.create_task(channel.serve(slow_csms))
    try:
        request = asyncio.create_task(channel.authorize("04A1B2C3"))
        await asyncio.wait_for(started.wait(), 5)
        request.cancel()  # the session side's authorize timeout
        await asyncio.wait_for(cancelled.wait(), 5)
        assert not server.done()  # the channel keeps serving
    finally:
        server.cancel()


async def test_an_unexpected_error_reaches_the_requester_not_the_uplink() -> None:
    channel = CsmsAuthorization()

    async def broken(id_tag: str, key_code: bool) -> AuthResult | None:
        raise RuntimeError(f"no answer for {id_tag}")

    server = asyncio.create_task(channel.serve(broken))
    try:
        with pytest.raises(RuntimeError, match="no answer"):
            await channel.authorize("X")
        assert not server.done()
    finally:
        server.cancel()
