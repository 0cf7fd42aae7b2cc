"""Runs the token readers and hands each tap, routed to a connector, to the session layer.

``on_token(token, connector_id)`` is awaited once per tap. ``connector_id`` is None when a
shared reader was tapped and no connector is waiting yet: the tap is kept in ``PendingTaps`` (a
channel the session side shares, made before both), whose ``claim_for_plug(connector_id)`` the
session side calls when an EV is plugged in to learn whether a pending tap belongs to it (see
``domain.tap_routing``). The ``AuthDecision`` it returns drives the reader's
buzzer/LED where the reader has one. Taps queue in the reader driver while ``on_token`` runs
(bounded there, oldest dropped).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.authorization import AuthDecision
from edge_controller.domain.sessions.tap_routing import (
    ConnectorActivity,
    PendingTap,
    add_pending,
    claim_for_plug,
    drop_expired,
    route_tap,
)
from edge_controller.log import get_logger
from edge_controller.ports import DeviceError, ReaderFeedback, TokenReader

OnToken = Callable[[Token, str | None], Awaitable[AuthDecision | None]]
FEEDBACK_TIMEOUT_S = 3.0
NO_ACTIVITY = ConnectorActivity()


@dataclass(frozen=True, slots=True)
class ReaderRoute:
    """The connectors one reader serves; more than one makes it a shared reader."""

    connectors: tuple[str, ...]
    plug_timeout_s: float = 60.0


class PendingTaps:
    """Shared-reader taps waiting for a plug-in, and each reader's route: the channel between
    the readers (which add taps) and the session side (which claims one on a plug-in)."""

    def __init__(
        self, routes: Mapping[str, ReaderRoute], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.routes: Mapping[str, ReaderRoute] = dict(routes)
        self.clock = clock
        self._pending: tuple[PendingTap, ...] = ()
        self._log = get_logger("readers")

    def add(self, tap: PendingTap) -> None:
        self._pending = add_pending(self._pending, tap, self.clock())

    def claim_for_plug(self, connector_id: str) -> Token | None:
        """The pending shared-reader tap that a plug-in at ``connector_id`` claims, if any."""
        claimed, self._pending = claim_for_plug(self._pending, connector_id, self.clock())
        if claimed is not None:
            self._log.info(
                "tap claimed by plug-in", connector_id=connector_id, reader_id=claimed.reader_id
            )
        return None if claimed is None else claimed.token

    def pending(self) -> tuple[PendingTap, ...]:
        """Taps of shared readers still waiting for a plug-in."""
        self._pending = drop_expired(self._pending, self.clock())
        return self._pending


class ReaderService:
    def __init__(
        self,
        readers: Sequence[TokenReader],
        taps: PendingTaps,
        on_token: OnToken,
        *,
        activity: Callable[[], ConnectorActivity] | None = None,
        feedback: Mapping[str, ReaderFeedback] | None = None,
    ) -> None:
        """``taps``: where shared-reader taps wait for a plug-in, with each reader's route."""
        self._readers = list(readers)
        self._taps = taps
        self._on_token = on_token
        self._activity = activity or (lambda: NO_ACTIVITY)
        self._feedback = dict(feedback or {})
        self._log = get_logger("readers")

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for reader in self._readers:
                group.create_task(self._consume(reader))

    async def handle(self, token: Token) -> None:
        """Route one tap and hand it on (``run`` calls this for every token read)."""
        route = self._taps.routes.get(token.reader_id or "")
        if route is None:
            self._log.warning("tap from a reader without connectors", reader_id=token.reader_id)
            await self._signal(token, await self._on_token(token, None))
            return
        now_s = self._taps.clock()
        decision = route_tap(
            token,
            str(token.reader_id),
            route.connectors,
            self._activity(),
            at_s=now_s,
            plug_timeout_s=route.plug_timeout_s,
        )
        if decision.pending is not None:
            self._taps.add(decision.pending)
        self._log.info(
            "tap",
            reader_id=token.reader_id,
            connector_id=decision.connector_id,
            reason=decision.reason,
            random_uid=token.random_uid,
        )
        await self._signal(token, await self._on_token(token, decision.connector_id))

    async def _signal(self, token: Token, decision: AuthDecision | None) -> None:
        feedback = self._feedback.get(token.reader_id or "")
        if feedback is None or decision is None:
            return
        try:
            await asyncio.wait_for(feedback.signal(decision.accepted), FEEDBACK_TIMEOUT_S)
        except (DeviceError, TimeoutError) as exc:  # a silent buzzer must not lose the tap
            self._log.warning("reader feedback failed", reader_id=token.reader_id, error=str(exc))

    async def _consume(self, reader: TokenReader) -> None:
        async for token in reader.tokens():
            await self.handle(token)
