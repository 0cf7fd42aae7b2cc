"""Runs every connector's session state machine; ``SessionActions`` carries out its decisions.

Inputs: charger states (``on_charger_status``), tokens (``on_token``), operator/CSMS commands
(``on_command``), late CSMS answers (``on_remote_auth_result``) and the clock (``tick``).
Outputs: durable session records with their outbox messages, ``ConnectorGate`` calls, and
``SessionEvent``s (``manager.events.subscribe()``). Events of one connector are handled one at a
time, in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from edge_controller.domain import sessions as sm
from edge_controller.domain.authorization import (
    AuthDecision,
    AuthResult,
    AuthStatus,
    late_answer_stops,
    same_owner,
)
from edge_controller.domain.commands import (
    CancelReservation,
    ChangeSessionRules,
    Reserve,
    StartSession,
    StopSession,
)
from edge_controller.domain.model import ChargerStatus, CpState, Token
from edge_controller.domain.reservations import (
    Condition,
    Reservation,
    ReserveAnswer,
    identity_of_any,
    tap_preference,
)
from edge_controller.domain.tap_routing import ConnectorActivity
from edge_controller.log import get_logger
from edge_controller.services.session_actions import ConnectorGate, SessionActions
from edge_controller.services.session_auth import POLICY_RULES, TokenAuthorizer
from edge_controller.services.session_events import SessionEvents
from edge_controller.services.session_recorder import SessionRecorder
from edge_controller.services.session_reservations import ReservationBook
from edge_controller.services.session_sampling import Sampling
from edge_controller.storage.errors import StorageError
from edge_controller.storage.sessions_store import SessionRecord

log = get_logger("sessions")
DEFAULT_TIMEOUTS = sm.Timeouts()
DEFAULT_SAMPLING = Sampling()
STARTABLE = frozenset({sm.Phase.IDLE, sm.Phase.WAIT_AUTH, sm.Phase.WAIT_PLUG})
STOPPABLE = frozenset({sm.Phase.ACTIVE, sm.Phase.OPENING, sm.Phase.RECOVERING, sm.Phase.WAIT_PLUG})

__all__ = ["ConnectorGate", "SessionManager"]


class SessionManager:
    def __init__(
        self,
        connector_ids: Sequence[str],
        recorder: SessionRecorder,
        auth: TokenAuthorizer,
        gate: ConnectorGate,
        *,
        timeouts: sm.Timeouts = DEFAULT_TIMEOUTS,
        sampling: Sampling = DEFAULT_SAMPLING,
        clock: Callable[[], float] = time.time,
        reservations: ReservationBook | None = None,
    ) -> None:
        self.auth = auth
        self.reservations = reservations
        self.sampling = sampling
        self._actions = SessionActions(recorder, gate)
        self._timeouts = timeouts
        self._clock = clock
        self._states = {cid: sm.ConnectorState() for cid in connector_ids}
        self._locks = {cid: asyncio.Lock() for cid in connector_ids}
        self._unassigned: dict[str, tuple[sm.Authorization, float]] = {}
        self._claim: Callable[[str], Token | None] | None = None
        self._waiting_since: dict[str, float] = {}

    @property
    def events(self) -> SessionEvents:
        return self._actions.events

    # --- inputs ---------------------------------------------------------------------------
    async def recover(self) -> list[SessionRecord]:
        """Load sessions left open by a crash; each is resumed or closed on the first status."""
        found = await self._actions.recorder.store.open_sessions()
        for record in found:
            cid = record.connector_id
            if cid not in self._states:
                log.error("open session on an unknown connector", connector_id=cid)
                close = sm.CloseSession(record.local_id, sm.StopReason.POWER_LOSS, None, True)
                await self._actions.close(cid, close, self._clock())
                continue
            self._states[cid] = sm.recovering(record.local_id)
            self._actions.track(record)
        if self.reservations is not None:
            await self.reservations.load(self._states, self._clock())
        return found

    async def on_charger_status(self, connector_id: str, status: ChargerStatus) -> None:
        fault = status.state in (CpState.E, CpState.F) or status.fault_text is not None
        await self._apply(connector_id, sm.ChargerSeen(status.state.plugged, fault))
        if self._states[connector_id].phase is sm.Phase.WAIT_AUTH:
            await self._after_plug(connector_id)

    def use_plug_claims(self, claim: Callable[[str], Token | None]) -> None:
        """Let a plug-in claim a pending shared-reader tap (``ReaderService.claim_for_plug``).

        Without it, a tap on no particular connector goes to the next plug-in anywhere."""
        self._claim = claim

    def activity(self) -> ConnectorActivity:
        """Waiting and charging connectors, for routing taps of shared readers."""
        return ConnectorActivity(
            waiting_since_s=dict(self._waiting_since),
            session_tags={cid: r.id_tag for cid, r in self._actions.open.items()},
        )

    async def on_token(self, token: Token, connector_id: str | None = None) -> AuthDecision:
        """A card was presented (``connector_id`` None: reader shared by several connectors).

        Returns the decision, for reader feedback."""
        target = connector_id or self._connector_for(token)
        now_s = self._clock()
        record = self._actions.open.get(target) if target else None
        try:
            if target is not None and record is not None:
                return await self._token_on_session(target, record, token, now_s)
            decision = await self.auth.decide(token, now_s)
        except StorageError as exc:
            log.error("token lookup failed", id_tag=token.id_tag, error=str(exc))
            return AuthDecision(False, token.id_tag, "storage unavailable", AuthStatus.INVALID)
        if decision.accepted:
            auth = sm.Authorization(
                decision.id_tag, "local", decision.parent_id_tag, decision.offline,
                decision.energy_cap_wh,
            )  # fmt: skip
            if target is None:
                deadline_s = now_s + self._timeouts.plug_timeout_s
                self._unassigned[decision.id_tag] = (auth, deadline_s)
            elif not await self._authorize(target, auth):
                return AuthDecision(False, token.id_tag, "connector reserved", AuthStatus.INVALID)
        return decision

    async def on_command(self, command: StartSession | StopSession) -> bool:
        """Apply a start/stop command; False when the connector cannot do it now."""
        cid = command.connector_id
        if cid not in self._states:
            log.warning("command for an unknown connector", connector_id=cid)
            return False
        phase = self._states[cid].phase
        if isinstance(command, StartSession):
            if phase not in STARTABLE:
                return False
            source = "remote" if sm.is_remote(command.source) else command.source
            return await self._authorize(cid, sm.Authorization(command.id_tag, source))
        if phase not in STOPPABLE:
            return False
        await self._apply(cid, sm.StopRequested(sm.stop_reason_for(command.source)))
        return True

    def change_rules(self, command: ChangeSessionRules) -> None:
        """Rules a CSMS changed through its configuration keys, for every decision from now on.
        A bad value raises ValueError and changes nothing."""
        if command.plug_timeout_s is not None and not command.plug_timeout_s > 0:
            raise ValueError(f"connection timeout must be positive: {command.plug_timeout_s}")
        rules = {name: getattr(command, name) for name in POLICY_RULES}
        self.auth.change_policy({name: on for name, on in rules.items() if on is not None})
        if command.plug_timeout_s is not None:
            self._timeouts = replace(self._timeouts, plug_timeout_s=command.plug_timeout_s)
        if command.stop_transaction_data is not None:
            self._actions.recorder.stop_transaction_data = command.stop_transaction_data

    async def on_reservation(self, command: Reserve | CancelReservation) -> bool:
        """Reserve a connector or cancel a reservation; False when refused (or not offered)."""
        if self.reservations is None:
            return False
        if isinstance(command, CancelReservation):
            return await self.reservations.cancel(command.reservation_id)
        state = self._states.get(command.connector_id)
        if state is None and identity_of_any(command.connector_id) is None:
            return False
        free = state is not None and state.phase is sm.Phase.IDLE and not state.plugged
        condition = Condition.FREE if free else Condition.OCCUPIED
        now_s = self._clock()
        answer = await self.reservations.reserve(command, condition, now_s, self._idle())
        return answer is ReserveAnswer.ACCEPTED

    async def on_remote_auth_result(self, id_tag: str, result: AuthResult) -> None:
        """A CSMS answer that came late (e.g. StartTransaction.conf for an offline start)."""
        now_s = self._clock()
        await self.auth.remember(Token(id_tag), result, now_s)
        if not late_answer_stops(result, self.auth.policy, now_s):
            return
        for cid, record in list(self._actions.open.items()):
            if record.id_tag.upper() == id_tag.upper():
                await self._apply(cid, sm.StopRequested(sm.StopReason.DEAUTHORIZED))

    async def tick(self) -> None:
        """Timeouts, meter samples, energy caps and retried stops; call about once a second."""
        await self._actions.retry_closes()
        if self.reservations is not None:
            await self.reservations.expire(self._clock())
        async with asyncio.TaskGroup() as group:
            for cid in self._states:
                group.create_task(self._tick_connector(cid))

    async def run(self, interval_s: float = 1.0) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(interval_s)

    async def shutdown(self) -> None:
        """Close every open session with reason Reboot (orderly daemon stop)."""
        for cid in list(self._actions.open):
            await self._apply(cid, sm.StopRequested(sm.StopReason.REBOOT))

    # --- views ----------------------------------------------------------------------------
    def phase(self, connector_id: str) -> sm.Phase:
        return self._states[connector_id].phase

    def open_session(self, connector_id: str) -> SessionRecord | None:
        """The open session of a connector (its ``local_id`` is the local transaction id)."""
        return self._actions.open.get(connector_id)

    def reserved(self, connector_id: str) -> Reservation | None:
        """The live reservation holding a connector, if any (a connector-0 one once those need
        every free connector of the identity)."""
        book = self.reservations
        return None if book is None else book.shown(connector_id, self._idle(), self._clock())

    def reservation_ids(self) -> frozenset[int]:
        """Ids of every live reservation (CancelReservation asks for any of them)."""
        book = self.reservations
        return frozenset() if book is None else book.live_ids(self._clock())

    def _idle(self) -> dict[str, bool]:
        """Every connector -> no session and nothing plugged (free for a reservation)."""
        return {c: s.phase is sm.Phase.IDLE and not s.plugged for c, s in self._states.items()}

    # --- internals ------------------------------------------------------------------------
    async def _authorize(self, cid: str, auth: sm.Authorization) -> bool:
        """Authorise a start, unless the connector is reserved for someone else."""
        if self.reservations is not None:
            admitted = await self.reservations.admit(cid, auth, self._clock(), self._idle())
            if admitted is None:
                return False
            auth = admitted
        await self._apply(cid, sm.Authorized(auth))
        return True

    async def _token_on_session(
        self, cid: str, record: SessionRecord, token: Token, now_s: float
    ) -> AuthDecision:
        decision = None
        owner = same_owner(record.id_tag, None, token.id_tag, None)
        if not owner and record.parent_id_tag is not None:
            decision = await self.auth.decide(token, now_s)
            owner = same_owner(
                record.id_tag, record.parent_id_tag, token.id_tag, decision.parent_id_tag
            )
        if not owner:
            return AuthDecision(False, token.id_tag, "not the session's owner", AuthStatus.INVALID)
        await self._apply(cid, sm.StopRequested(sm.StopReason.LOCAL, token.id_tag))
        return decision or AuthDecision(True, token.id_tag, "own session", AuthStatus.ACCEPTED)

    def _connector_for(self, token: Token) -> str | None:
        for cid, record in self._actions.open.items():
            if record.id_tag.upper() == token.id_tag.upper():
                return cid
        waiting = [c for c, s in self._states.items() if s.phase is sm.Phase.WAIT_AUTH]
        if waiting:
            return min(waiting, key=lambda c: tap_preference(self.reserved(c), token.id_tag))
        return next(iter(self._states)) if len(self._states) == 1 else None

    async def _after_plug(self, cid: str) -> None:
        """An EV waits for authorisation: free vend, or a card tapped before it arrived."""
        free_tag = self.auth.policy.free_vend_id_tag
        if free_tag is not None:
            await self._authorize(cid, sm.Authorization(free_tag, "free"))
            return
        if self._claim is None:
            auth = self._take_unassigned(None)
        else:
            token = self._claim(cid)
            if token is None:
                return
            auth = self._take_unassigned(token.id_tag)
            if auth is None:  # tapped, but not authorised yet: do it now
                await self.on_token(token, cid)
                return
        if auth is not None:
            await self._authorize(cid, auth)

    def _take_unassigned(self, id_tag: str | None) -> sm.Authorization | None:
        now_s = self._clock()
        live = {tag: v for tag, v in self._unassigned.items() if v[1] > now_s}
        tag = id_tag if id_tag is not None else min(live, key=lambda t: live[t][1], default=None)
        pending = live.pop(tag, None) if tag is not None else None
        self._unassigned = live
        return None if pending is None else pending[0]

    async def _tick_connector(self, cid: str) -> None:
        await self._apply(cid, sm.Tick())
        async with self._locks[cid]:
            if self._states[cid].phase is not sm.Phase.ACTIVE:
                return
            energy = await self._actions.sample(cid, self.sampling, self._clock())
            record = self._actions.open.get(cid)
        if energy is None or record is None or record.energy_cap_wh is None:
            return
        if energy.energy_wh - record.meter_start_wh >= record.energy_cap_wh:
            log.info("offline energy cap reached", connector_id=cid, cap_wh=record.energy_cap_wh)
            await self._apply(cid, sm.StopRequested(sm.StopReason.OTHER))

    async def _apply(self, cid: str, event: sm.Event) -> None:
        if cid not in self._states:
            raise KeyError(f"unknown connector {cid}")
        async with self._locks[cid]:
            pending: list[sm.Event] = [event]
            while pending:
                now_s = self._clock()
                state, actions = sm.transition(
                    self._states[cid], pending.pop(0), now_s, self._timeouts
                )
                self._states[cid] = state
                if state.phase is not sm.Phase.WAIT_AUTH:
                    self._waiting_since.pop(cid, None)
                elif cid not in self._waiting_since:
                    self._waiting_since[cid] = now_s
                for action in actions:
                    follow = await self._actions.perform(cid, action, now_s)
                    if isinstance(follow, sm.Opened) and self.reservations is not None:
                        await self.reservations.used(cid, action)
                    if follow is not None:
                        pending.append(follow)
