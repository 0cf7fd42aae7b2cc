"""Runs every connector's session state machine; ``SessionActions`` carries out its decisions.

Inputs: charger states (``on_charger_status``, fed by the status relay channel), tokens
(``on_token``; a shared reader's taps wait in the ``PendingTaps`` channel for a plug-in),
start/stop commands of every entry point (``start``, ``stop``), late CSMS answers
(``on_remote_auth_result``, ``transaction_confirmed``) and the clock (``tick``).

Every start passes one rule (``domain.sessions.needs_authorization``): the connector is claimed
first (nobody else starts there meanwhile), then the id tag is authorised like a card's (local
list, cache, CSMS Authorize, offline rules) unless the CSMS sent it; a CSMS start that must be
authorised again (AuthorizeRemoteTxRequests) is answered at once and authorised by ``run()``.
Outputs: durable session records with their outbox messages, ``ConnectorGate`` calls, and
``SessionEvent``s (``manager.events.subscribe()``). Events of one connector are handled one at a
time, in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from edge_controller.domain.commands import (
    CancelReservation,
    ChangeSessionRules,
    ChangeSessionTariff,
    CommandResult,
    Origin,
    Reserve,
    SetTransactionLimit,
    StartSession,
    StopReason,
    StopSession,
    TransactionLimit,
)
from edge_controller.domain.model import IEC_MIN_CURRENT_A, ChargerStatus, CpState, Token
from edge_controller.domain.sessions import connector_status
from edge_controller.domain.sessions import state as sm
from edge_controller.domain.sessions.authorization import (
    AuthDecision,
    AuthEntry,
    AuthResult,
    AuthStatus,
    late_answer_stops,
    same_owner,
)
from edge_controller.domain.sessions.events import IdToken, ReadingContext, TokenType
from edge_controller.domain.sessions.limits import Progress, limit_reached
from edge_controller.domain.sessions.reservations import (
    Condition,
    Reservation,
    ReserveAnswer,
    identity_of_any,
    tap_preference,
)
from edge_controller.domain.sessions.tap_routing import ConnectorActivity
from edge_controller.domain.sessions.tokens import masked
from edge_controller.domain.snapshot import Availability, ConnectorState, ConnectorView
from edge_controller.log import get_logger
from edge_controller.services.control.status_relay import StatusRelay
from edge_controller.services.readers import PendingTaps
from edge_controller.services.sessions.actions import ConnectorGate, SessionActions
from edge_controller.services.sessions.auth import POLICY_RULES, Authorizer, TokenAuthorizer
from edge_controller.services.sessions.changes import Changed, ShownChanges
from edge_controller.services.sessions.events import SessionEvents
from edge_controller.services.sessions.recorder import SessionRecorder
from edge_controller.services.sessions.reservations import ReservationBook
from edge_controller.services.sessions.sampling import Sampling
from edge_controller.storage.errors import StorageError
from edge_controller.storage.plugs_store import OpenPlug
from edge_controller.storage.sessions_store import SessionRecord

log = get_logger("sessions")
DEFAULT_TIMEOUTS = sm.Timeouts()
DEFAULT_SAMPLING = Sampling()
STOPPABLE = frozenset(
    {sm.Phase.ACTIVE, sm.Phase.OPENING, sm.Phase.RECOVERING, sm.Phase.WAIT_PLUG,
     sm.Phase.AUTHORIZING}
)  # fmt: skip
HOLDING = frozenset({sm.Phase.AUTHORIZING, sm.Phase.WAIT_PLUG, sm.Phase.OPENING, sm.Phase.ACTIVE})
BUSY = {
    sm.Phase.OPENING: "connector is starting a session",
    sm.Phase.ACTIVE: "connector has a session",
    sm.Phase.RECOVERING: "connector has a session",
    sm.Phase.FINISHED: "connector still has the EV of an ended session (unplug first)",
    sm.Phase.AUTHORIZING: "connector is held by another start",
    sm.Phase.WAIT_PLUG: "connector waits for the EV of another id",
}
NEW_START = HOLDING | {sm.Phase.FINISHED}
NOTE_S = 300.0  # how long a connector shows why a start was given up
LATER_QUEUE_SIZE = 16  # CSMS starts waiting for their Authorize; beyond, a start is refused
REFUSED_QUEUE_SIZE = 256  # CSMS refusals of started transactions waiting to be applied
NOTED = (Availability.AVAILABLE, Availability.PREPARING)  # where a given-up start is explained

__all__ = ["ConnectorGate", "PlugWait", "SessionChannels", "SessionManager"]


@dataclass(frozen=True, slots=True)
class SessionChannels:
    """The channels of the session side, made before it (and before whoever is on their other
    end) by the composition root: charger statuses from the control loop; shared-reader taps
    waiting for a plug-in (without them, a tap on no particular connector goes to the next
    plug-in anywhere); the CSMS's Authorize; the outbox wake-up, set after a commit."""

    statuses: StatusRelay | None = None
    taps: PendingTaps | None = None
    csms: Authorizer | None = None
    outbox_wakeup: Callable[[str], None] | None = None  # the identity whose messages were queued


@dataclass(frozen=True, slots=True)
class PlugWait:
    """An authorisation waiting for an EV at a connector, for the status surfaces."""

    token: str  # masked (``domain.tokens.masked``)
    until_s: float


@dataclass(frozen=True, slots=True)
class _Unassigned:
    """A card accepted on a shared reader before any EV: the next plug-in takes it."""

    auth: sm.Authorization
    until_s: float
    connectors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Taken:
    """A connector a start took (``auth`` as admitted, with its reservation), or why none."""

    connector_id: str | None
    auth: sm.Authorization | None = None
    refusal: str = ""


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
        channels: SessionChannels | None = None,
    ) -> None:
        self.auth = auth
        self.reservations = reservations
        self.sampling = sampling
        self._actions = SessionActions(recorder, gate)
        self._timeouts = timeouts
        self._clock = clock
        self._states = {cid: sm.SessionState() for cid in connector_ids}
        self._locks = {cid: asyncio.Lock() for cid in connector_ids}
        self._unassigned: dict[str, _Unassigned] = {}
        self._channels = channels or SessionChannels()
        self._waiting_since: dict[str, float] = {}
        self._notes: dict[str, tuple[str, float]] = {}
        self._later: asyncio.Queue[tuple[str, sm.Authorization]] = asyncio.Queue(LATER_QUEUE_SIZE)
        self._refused: asyncio.Queue[tuple[int, AuthStatus]] = asyncio.Queue(REFUSED_QUEUE_SIZE)
        self._limits: dict[int, TransactionLimit] = {}  # the CSMS's, by session local id
        # TxStopPoint EnergyTransfer: a session ends when its EV stops drawing energy; the
        # sessions seen drawing (connector -> local id), only those can stop drawing.
        self._stop_at_energy_end = False
        self._drawing: dict[str, int] = {}
        # Connector -> the inputs of its last status that changed nothing (``_status_inputs``).
        self._quiet: dict[str, tuple[object, ...]] = {}
        # Where the fields ``connector_view`` adds changed, for the feeds that join only those.
        self.changes = ShownChanges()
        if reservations is not None:
            reservations.on_change = self._every_changed
        self._follow_pricing()

    def watch_shown(self) -> Changed:
        """A reader of the connectors whose joined fields changed from now on (``changes``)."""
        self._follow_pricing()
        return self.changes.reader()

    def _follow_pricing(self) -> None:
        pricing = self._actions.recorder.pricing
        if pricing is not None:
            pricing.on_shown_change = self.changes.mark

    def _every_changed(self) -> None:
        self.changes.mark(None)

    @property
    def clock(self) -> Callable[[], float]:
        """The wall clock (UTC s) the session side's times are on."""
        return self._clock

    @property
    def events(self) -> SessionEvents:
        return self._actions.events

    @property
    def recorder(self) -> SessionRecorder:
        """Records session facts; samples taken elsewhere (the uplink) go through it too."""
        return self._actions.recorder

    # --- inputs ---------------------------------------------------------------------------
    async def recover(self) -> list[SessionRecord]:
        """Load sessions left open by a crash; each is resumed or closed on the first status."""
        found = await self._actions.recorder.store.open_sessions()
        for record in found:
            cid = record.connector_id
            if cid not in self._states:
                log.error("open session on an unknown connector", connector_id=cid)
                close = sm.CloseSession(record.local_id, StopReason.POWER_LOSS, None, True)
                await self._actions.close(cid, close, self._clock())
                continue
            self._states[cid] = sm.recovering(record.local_id)
            self._actions.track(record)
            pricing = self._actions.recorder.pricing
            if pricing is not None:
                await pricing.resume(
                    record, await self._actions.recorder.store.meter_values(record.local_id)
                )
        for plug in await self._actions.recorder.store.plugs.open_ones():
            if plug.connector_id not in self._states:
                await self._end_gone(plug)
                continue
            self._actions.early.resume(plug)
            if plug.session is not None:  # its EV's session ended: none before it leaves
                self._states[plug.connector_id] = sm.SessionState(sm.Phase.FINISHED, True)
        if self.reservations is not None:
            await self.reservations.load(self._states, self._clock())
        self._limits = await self._actions.recorder.store.limits_of_open()
        self.changes.mark(None)
        return found

    async def _end_gone(self, plug: OpenPlug) -> None:
        """A transaction left open on a connector the config no longer has: ended now, for
        the identity its events went to (none kept: the connector's, if any still routes)."""
        identity = await self._actions.recorder.store.plugs.identity_of(plug.local_id)
        log.warning("open transaction on an unknown connector: ended",
                    connector_id=plug.connector_id, transaction=plug.local_id,
                    identity=identity)  # fmt: skip
        await self._actions.early.end_gone(plug, identity, self._clock())

    async def on_charger_status(self, connector_id: str, status: ChargerStatus) -> None:
        before = self._status_inputs(connector_id, status)
        fault = status.state in (CpState.E, CpState.F) or status.fault_text is not None
        await self._apply(connector_id, sm.ChargerSeen(status.state.plugged, fault))
        await self._follow_energy(connector_id, status)
        if self._states[connector_id].phase is sm.Phase.WAIT_AUTH:
            await self._after_plug(connector_id)
        if self._status_inputs(connector_id, status) == before:
            self._quiet[connector_id] = before
        else:
            self._quiet.pop(connector_id, None)

    def _status_inputs(self, cid: str, status: ChargerStatus) -> tuple[object, ...]:
        """What ``on_charger_status`` decides from: the status as it reads it (not its time),
        the session state, the open session and the energy-end rule."""
        record = self._actions.open.get(cid)
        offered = status.enabled and status.offered_current_a >= IEC_MIN_CURRENT_A
        state = self._states.get(cid)
        local_id = None if record is None else record.local_id
        return status.state, status.fault_text, offered, state, local_id, self._stop_at_energy_end

    def _changes_nothing(self, cid: str, status: ChargerStatus) -> bool:
        """Whether ``on_charger_status`` would do nothing: the last time it was given this
        status with this session state it changed nothing, and nothing changed since. Not
        where an EV waits for its authorisation (a tap or a free vend may come with any
        status) or a transaction begun before its session waits for the charger or a rule."""
        state = self._states.get(cid)
        if state is None or state.phase is sm.Phase.WAIT_AUTH:
            return False
        early = self._actions.early
        if early.unseen(cid) or not early.settled(cid, state, stopping=self._actions.stopping):
            return False
        return self._quiet.get(cid) == self._status_inputs(cid, status)

    async def _follow_energy(self, cid: str, status: ChargerStatus) -> None:
        """TxStopPoint EnergyTransfer: end a session whose EV drew energy and stopped while it
        was offered enough to charge. A pause the site made (offer under the minimum, charger
        disabled) is not the EV's end: it must draw again after it before it can end."""
        record = self._actions.open.get(cid)
        offered = status.enabled and status.offered_current_a >= IEC_MIN_CURRENT_A
        if record is None or self._states[cid].phase is not sm.Phase.ACTIVE or not offered:
            self._drawing.pop(cid, None)
            return
        if status.state.charging:
            self._drawing[cid] = record.local_id
            return
        if self._stop_at_energy_end and self._drawing.pop(cid, None) == record.local_id:
            log.info("energy transfer stopped: the session ends (TxStopPoint EnergyTransfer)",
                     connector_id=cid, session=record.local_id)  # fmt: skip
            await self._apply(cid, sm.StopRequested(StopReason.STOPPED_BY_EV))

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
        record = self._actions.open.get(target) if target else None
        try:
            if target is not None and record is not None:
                decision = await self._token_on_session(target, record, token, self._clock())
            elif target is not None and self._ends_by_card(target, token):
                decision = await self._end_by_card(target, token)
            elif target is None:
                decision = await self._token_for_next_plug(token)
            else:
                decision = await self._token_at_free_connector(target, token)
        except StorageError as exc:
            log.error("token lookup failed", token=masked(token.id_tag), error=str(exc))
            return AuthDecision(False, token.id_tag, "storage unavailable", AuthStatus.INVALID)
        if decision.master_pass:
            return await self._stop_by_master_pass(decision, self._reach(token, connector_id))
        return decision

    async def _token_at_free_connector(self, target: str, token: Token) -> AuthDecision:
        taken = await self._take((target,), sm.Authorization(token.id_tag, "local"), claim=True)
        if taken.connector_id is None or taken.auth is None:
            log.info("card refused", token=masked(token.id_tag), reason=taken.refusal)
            return AuthDecision(False, token.id_tag, taken.refusal, AuthStatus.INVALID)
        return await self._decide_claim(target, taken.auth, token)

    def _ends_by_card(self, cid: str, token: Token) -> bool:
        """A card of the driver whose session ended ends its transaction going on after it,
        where that ends with the authorisation (TxStopPoint Authorized alone)."""
        after = self._actions.early.after_session_of(cid)
        early = self._actions.early
        if after is None or after.id_tag is None or not early.until_deauthorized:
            return False
        return same_owner(after.id_tag, None, token.id_tag, None)

    async def _end_by_card(self, cid: str, token: Token) -> AuthDecision:
        async with self._locks[cid]:
            card = IdToken(token.id_tag, TokenType.CARD)
            await self._actions.early.end(cid, StopReason.LOCAL, self._clock(), card)
            self.changes.mark(cid)
        return AuthDecision(True, token.id_tag, "own transaction", AuthStatus.ACCEPTED)

    def _reach(self, token: Token, connector_id: str | None) -> tuple[str, ...]:
        """The connectors a tap speaks for: its reader's one, else those its shared reader
        serves (a station without a screen: a master pass stops them all, OCPP 2.0.1 C16); a
        reader without connectors reaches none."""
        if connector_id is not None:
            return (connector_id,)
        taps = self._channels.taps
        route = taps.routes.get(token.reader_id or "") if taps is not None else None
        return route.connectors if route is not None else ()

    async def _stop_by_master_pass(
        self, decision: AuthDecision, reach: Sequence[str]
    ) -> AuthDecision:
        """A master pass never starts a session; it stops every one within its reach."""
        running = [cid for cid in reach if cid in self._actions.open]
        for cid in running:
            await self._apply(cid, sm.StopRequested(StopReason.MASTER_PASS, decision.id_tag))
        log.info("master pass", token=masked(decision.id_tag), stopped=running)
        if not running:
            return replace(decision, reason=f"{decision.reason}; no session to stop")
        said = ", ".join(running)
        return replace(decision, accepted=True, reason=f"master pass stopped {said}")

    async def start(self, command: StartSession) -> CommandResult:
        """A start from the command port (MQTT, the CSMS, the web...), by the one rule."""
        targets = command.any_of or (command.connector_id,)
        unknown = next((c for c in targets if c not in self._states), None)
        if unknown is not None:
            return CommandResult.failure(f"unknown connector {unknown}")
        remote = command.origin is Origin.CSMS
        auth = sm.Authorization(command.id_tag, "remote" if remote else command.origin.value,
                                remote_start_id=command.remote_start_id,
                                key_code=command.key_code)  # fmt: skip
        claim = sm.needs_authorization(command.origin, command.authorize_first)
        taken = await self._take(targets, auth, claim=claim)
        cid, claimed = taken.connector_id, taken.auth
        if cid is None or claimed is None:
            log.info("start refused", token=masked(command.id_tag), origin=command.origin.value,
                     reason=command.reason.value, refusal=taken.refusal)  # fmt: skip
            return CommandResult.failure(taken.refusal)
        if not claim:
            return CommandResult.success(cid)
        if remote:
            return await self._authorize_later(cid, claimed)
        token = Token(command.id_tag, key_code=command.key_code)
        decision = await self._decide_claim(cid, claimed, token)
        if decision.accepted:
            return CommandResult.success(cid)
        return CommandResult.failure(f"{cid}: not authorised ({decision.reason})")

    async def stop(self, command: StopSession) -> CommandResult:
        cid = command.connector_id
        if cid not in self._states:
            return CommandResult.failure(f"unknown connector {cid}")
        if self._actions.early.after_session_of(cid) is not None:
            async with self._locks[cid]:  # its session ended: the transaction ends now
                await self._actions.early.end(cid, command.reason, self._clock())
                self.changes.mark(cid)
            return CommandResult.success(cid)
        # A transaction begun before its session stops too (no session starts there then).
        early = cid in self._actions.early.open
        if self._states[cid].phase not in STOPPABLE and not early:
            return CommandResult.failure(f"{cid}: no session or start to stop")
        await self._apply(cid, sm.StopRequested(command.reason))
        return CommandResult.success(cid)

    def change_rules(self, command: ChangeSessionRules) -> None:
        """Rules a CSMS changed through its configuration keys, for every decision from now on.
        A bad value raises ValueError and changes nothing."""
        if command.plug_timeout_s is not None and not command.plug_timeout_s > 0:
            raise ValueError(f"connection timeout must be positive: {command.plug_timeout_s}")
        rules = {name: getattr(command, name) for name in POLICY_RULES}
        self.auth.change_policy({name: on for name, on in rules.items() if on is not None})
        if command.master_pass_group_id is not None:
            self.auth.change_master_pass(command.master_pass_group_id)
        if command.plug_timeout_s is not None:
            self._timeouts = replace(self._timeouts, plug_timeout_s=command.plug_timeout_s)
        if command.stop_transaction_data is not None:
            self._actions.recorder.stop_transaction_data = command.stop_transaction_data
        if command.start_at_plug is not None:
            self._actions.early.at_plug = command.start_at_plug
        if command.start_at_authorization is not None:
            self._actions.early.at_authorization = command.start_at_authorization
        if command.stop_at_energy_end is not None:
            self._stop_at_energy_end = command.stop_at_energy_end
        if command.stop_only_at_unplug is not None:
            self._actions.early.until_unplug = command.stop_only_at_unplug
        if command.stop_only_at_deauthorization is not None:
            self._actions.early.until_deauthorized = command.stop_only_at_deauthorization

    async def on_reservation(self, command: Reserve | CancelReservation) -> bool:
        """Reserve a connector or cancel a reservation; False when refused (or not offered)."""
        if isinstance(command, CancelReservation):
            return self.reservations is not None and await self.reservations.cancel(
                command.reservation_id
            )
        return await self.reserve(command) is ReserveAnswer.ACCEPTED

    async def reserve(self, command: Reserve) -> ReserveAnswer:
        """The session side's answer to a reservation, from its own connector states."""
        state = self._states.get(command.connector_id)
        if self.reservations is None:
            return ReserveAnswer.REJECTED
        if state is None and identity_of_any(command.connector_id) is None:
            return ReserveAnswer.REJECTED
        free = state is not None and state.phase is sm.Phase.IDLE and not state.plugged
        condition = Condition.FREE if free else Condition.OCCUPIED
        return await self.reservations.reserve(command, condition, self._clock(), self._idle())

    async def on_remote_auth_result(self, id_tag: str, result: AuthResult) -> None:
        """A CSMS answer that came late (e.g. StartTransaction.conf for an offline start)."""
        now_s = self._clock()
        await self.auth.remember(Token(id_tag), result, now_s)
        if not late_answer_stops(result, self.auth.policy, now_s):
            return
        for cid, record in list(self._actions.open.items()):
            if record.id_tag.upper() != id_tag.upper():
                continue
            if record.source == Origin.PAYMENT_TERMINAL.value:
                # Paid by an approved card: the CSMS does not know the payment's token, and
                # stopping would leave the driver with a reservation and no energy.
                log.info("CSMS refusal of a paid session's token ignored", connector_id=cid,
                         status=result.status.value)  # fmt: skip
                continue
            await self._apply(cid, sm.StopRequested(StopReason.DEAUTHORIZED))

    def transaction_confirmed(
        self, session_local_id: int, transaction_id: int, id_tag_status: str
    ) -> None:
        """The CSMS answered a session's start; any status but Accepted is applied by ``run``
        as StopTransactionOnInvalidId says (``on_remote_auth_result``). Never blocks."""
        try:
            status = AuthStatus(id_tag_status)
        except ValueError:
            log.warning("unknown id tag status in a transaction answer", status=id_tag_status)
            return
        if status is AuthStatus.ACCEPTED:
            return
        try:
            self._refused.put_nowait((session_local_id, status))
        except asyncio.QueueFull:
            log.error("too many refused transactions pending", transaction_id=transaction_id)

    async def _apply_refusals(self) -> None:
        while True:
            local_id, status = await self._refused.get()
            for record in list(self._actions.open.values()):
                if record.local_id == local_id:
                    entry = AuthEntry(record.id_tag, status)
                    await self.on_remote_auth_result(record.id_tag, entry)
            await self._refuse_waiting_authorisation(local_id, status)

    async def _refuse_waiting_authorisation(self, local_id: int, status: AuthStatus) -> None:
        """A transaction begun at an authorisation (TxStartPoint Authorized) whose EV has not
        come yet, refused by the CSMS: the authorisation is dropped, so the EV that plugs in
        later does not charge on it; its transaction ends with the wait."""
        for cid, early in list(self._actions.early.open.items()):
            auth = self._states[cid].auth
            if early.local_id != local_id or not early.authorized or auth is None:
                continue
            log.info("CSMS refused an authorisation waiting for its EV", connector_id=cid,
                     status=status.value)  # fmt: skip
            await self.auth.remember(Token(auth.id_tag), AuthEntry(auth.id_tag, status),
                                     self._clock())  # fmt: skip
            await self._apply(cid, sm.StopRequested(StopReason.DEAUTHORIZED))

    async def _follow_chargers(self, statuses: StatusRelay) -> None:
        while True:
            batch = await statuses.next_batch()  # one status per connector
            # Each status read comes here; most of them, a charging EV's, change nothing.
            changed = [(c, s) for c, s in batch.items() if not self._changes_nothing(c, s)]
            if not changed:
                continue
            # The connectors at once: a start reads its meter and waits for its commit (the
            # database commits concurrent writes together). One after the other, 1,000 EVs
            # plugged together started at about one a second.
            async with asyncio.TaskGroup() as group:
                for connector_id, status in changed:
                    group.create_task(self.on_charger_status(connector_id, status))

    async def tick(self) -> None:
        """Timeouts, meter samples, energy caps and retried stops; call about once a second.
        Only the connectors with something due get a task: at a thousand connectors, one for
        each was about 1 % of a core, nearly all for connectors with nothing to do."""
        for cid in await self._actions.retry_closes():
            self.changes.mark(cid)  # a transaction going on after its session may show now
        if self.reservations is not None:
            await self.reservations.expire(self._clock())
        now_s = self._clock()
        async with asyncio.TaskGroup() as group:
            for cid, state in self._states.items():
                if self._tick_due(cid, state, now_s):
                    group.create_task(self._tick_connector(cid))

    def _tick_due(self, cid: str, state: sm.SessionState, now_s: float) -> bool:
        """Whether ``_tick_connector`` has anything to do: a timeout passed, a transaction
        begun before its session is to begin or end (a storage error retried), a sample is
        due, or a CSMS limit is checked (every tick)."""
        if state.deadline_s is not None and now_s >= state.deadline_s:
            return True
        if not self._actions.early.settled(cid, state, stopping=self._actions.stopping):
            return True
        if state.phase is not sm.Phase.ACTIVE:
            return False
        record = self._actions.open.get(cid)
        if record is not None and record.local_id in self._limits:
            return True
        return self._actions.sample_due(cid, self.sampling, now_s)

    async def run(self, interval_s: float = 1.0) -> None:
        """Ticks; follows the chargers' statuses; authorises the CSMS starts answered before
        their Authorize; applies the CSMS's refusals of started transactions."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._authorize_later_claims())
            group.create_task(self._apply_refusals())
            if self._channels.statuses is not None:
                group.create_task(self._follow_chargers(self._channels.statuses))
            while True:
                await self.tick()
                await asyncio.sleep(interval_s)

    async def shutdown(self) -> None:
        """Close every open session with reason Reboot (orderly daemon stop); from now on no
        session opens (the uplink may still be delivering for a while)."""
        self._actions.stopping = True
        for cid in list(self._actions.open):
            await self._apply(cid, sm.StopRequested(StopReason.REBOOT))
        for cid in list(self._actions.early.open):
            async with self._locks[cid]:
                await self._actions.early.end(cid, StopReason.REBOOT, self._clock())
                self.changes.mark(cid)

    # --- views ----------------------------------------------------------------------------
    def phase(self, connector_id: str) -> sm.Phase:
        return self._states[connector_id].phase

    def plug_wait(self, connector_id: str) -> PlugWait | None:
        """The authorisation waiting for an EV at this connector: its own (a card or command
        for it), or a shared reader's tap that the next plug-in here would take."""
        state = self._states.get(connector_id)
        if state is None:
            return None
        if state.phase is sm.Phase.WAIT_PLUG and state.auth and state.deadline_s is not None:
            return PlugWait(masked(state.auth.id_tag), state.deadline_s)
        if state.phase is not sm.Phase.IDLE or state.plugged:
            return None
        now_s = self._clock()
        waits = [u for u in self._unassigned.values()
                 if u.until_s > now_s and connector_id in u.connectors]  # fmt: skip
        first = min(waits, key=lambda u: u.until_s, default=None)
        return None if first is None else PlugWait(masked(first.auth.id_tag), first.until_s)

    def note(self, connector_id: str) -> str | None:
        """Why the last start on this connector was given up, while nothing else happened
        there (at most ``NOTE_S``)."""
        found = self._notes.get(connector_id)
        return found[0] if found is not None and found[1] > self._clock() else None

    def open_session(self, connector_id: str) -> SessionRecord | None:
        """The open session of a connector (its ``local_id`` is the local transaction id)."""
        return self._actions.open.get(connector_id)

    def reserved(self, connector_id: str) -> Reservation | None:
        """The live reservation holding a connector, if any (a connector-0 one once those need
        every free connector of the identity)."""
        book = self.reservations
        return None if book is None else book.shown(connector_id, self._idle, self._clock())

    def connector_view(self, connector: ConnectorView) -> ConnectorView:
        """The control loop's view of one connector joined with this side's: its status
        (``domain.sessions.connector_status.shown``), session, reservation, plug wait, the
        price before a start and the running session's cost."""
        cid = connector.connector_id
        state = self._states.get(cid)
        if state is None:
            return connector  # a connector this side does not run
        record, held, shown = self._shown(connector, state)
        wait = self.plug_wait(cid)
        return connector.with_session(
            availability=shown,
            reservation_id=connector.reservation_id if held is None else held.reservation_id,
            session_id=connector.session_id if record is None else str(record.local_id),
            id_tag=connector.id_tag if record is None else record.id_tag,
            session_started_s=None if record is None else record.start_at_s,
            transaction_id=self._transaction_of(cid, record),
            plug_wait_token=None if wait is None else wait.token,
            plug_wait_until_s=None if wait is None else wait.until_s,
            status_info=self.note(cid) if shown in NOTED else None,
            **self._prices(cid, record),
        )

    def connector_state(self, connector: ConnectorView) -> ConnectorState:
        """What ``connector_view`` shows of a connector's status, session and fault, without
        its prices and plug wait (what the OCPP identities look at every second)."""
        cid = connector.connector_id
        state = self._states.get(cid)
        if state is None:
            return ConnectorState.of(connector)
        record, _, shown = self._shown(connector, state)
        return ConnectorState(
            cid,
            shown,
            connector.session_id if record is None else str(record.local_id),
            connector.fault_text,
            self.note(cid) if shown in NOTED else None,
        )

    def _shown(
        self, connector: ConnectorView, state: sm.SessionState
    ) -> tuple[SessionRecord | None, Reservation | None, Availability]:
        """The connector's open session, the reservation holding it (none while a session is
        open) and the status shown."""
        record = self.open_session(connector.connector_id)
        held = self.reserved(connector.connector_id) if record is None else None
        shown = connector_status.shown(connector.availability, state.phase, held is not None)
        return record, held, shown

    def _transaction_of(self, cid: str, record: SessionRecord | None) -> str | None:
        """The local id of the connector's open transaction: its session's, else one no
        session runs in (begun before it, or going on after it)."""
        if record is not None:
            return str(record.local_id)
        early = self._actions.early.open.get(cid)
        return None if early is None else str(early.local_id)

    def _prices(self, cid: str, record: SessionRecord | None) -> Mapping[str, Any]:
        """The price before a start, the running session's cost so far, and what the CSMS
        calculated (``SessionPricing.shown``: kept until one of them changes)."""
        pricing = self._actions.recorder.pricing
        if pricing is None:
            return {}
        return pricing.shown(cid, record)

    def shown_until_s(self, connector_id: str) -> float | None:
        """Until when (UTC s) what ``connector_view`` adds to this connector holds unless a
        change is marked in ``changes``: the end of its plug wait, its note, its reservation or
        its price of the time of day; None: until a change."""
        now_s = self._clock()
        ends: list[float] = []
        note = self._notes.get(connector_id)
        if note is not None and note[1] > now_s:
            ends.append(note[1])
        wait = self.plug_wait(connector_id)
        if wait is not None:
            ends.append(wait.until_s)
        held = self.reserved(connector_id)
        if held is not None:
            ends.append(held.expiry_at_s)
        pricing = self._actions.recorder.pricing
        prices_until_s = None if pricing is None else pricing.shown_until_s()
        if prices_until_s is not None:
            ends.append(prices_until_s)
        # A wait past its deadline shows until the next tick ends it, which marks it.
        return min((end_s for end_s in ends if end_s > now_s), default=None)

    def reservation_ids(self) -> frozenset[int]:
        """Ids of every live reservation (CancelReservation asks for any of them)."""
        book = self.reservations
        return frozenset() if book is None else book.live_ids(self._clock())

    def _idle(self) -> dict[str, bool]:
        """Every connector -> no session and nothing plugged (free for a reservation)."""
        return {c: s.phase is sm.Phase.IDLE and not s.plugged for c, s in self._states.items()}

    # --- internals ------------------------------------------------------------------------
    async def _take(self, targets: Sequence[str], auth: sm.Authorization, *, claim: bool) -> _Taken:
        """Give the first fitting connector of ``targets`` to a start: claimed while its id tag
        is authorised (``claim``), or authorised at once. Decided under the connector's lock
        from the session states themselves, so two starts never take the same connector."""
        refusals: list[tuple[str, str]] = []
        for cid in self._in_preference(targets):
            if not sm.may_start(self._states[cid], auth.id_tag):  # busy: do not wait for it
                refusals.append((cid, BUSY.get(self._states[cid].phase, "connector not free")))
                continue
            async with self._locks[cid]:
                state = self._states[cid]  # again: it may have changed while waiting
                if not sm.may_start(state, auth.id_tag):
                    refusals.append((cid, BUSY.get(state.phase, "connector not free")))
                    continue
                admitted = await self._admit(cid, auth)
                if admitted is None and claim and self._for_group(cid):
                    admitted = auth  # the group is known once authorised: checked again then
                if admitted is None:
                    refusals.append((cid, "connector reserved"))
                    continue
                await self._run(cid, sm.Claimed(admitted) if claim else sm.Authorized(admitted))
                if _holds(self._states[cid], auth.id_tag):
                    return _Taken(cid, admitted)
                refusals.append((cid, "the start could not be recorded"))
        if len(refusals) == 1:
            return _Taken(None, refusal=refusals[0][1])
        said = "; ".join(f"{cid}: {why}" for cid, why in refusals)
        return _Taken(None, refusal=said or "no connector to start on")

    def _in_preference(self, targets: Sequence[str]) -> list[str]:
        """An EV waiting for authorisation first (the longest waiting), then as given."""
        waiting = sorted((t for t in targets if t in self._waiting_since),
                         key=lambda t: self._waiting_since[t])  # fmt: skip
        return waiting + [t for t in targets if t not in self._waiting_since]

    async def _admit(self, cid: str, auth: sm.Authorization) -> sm.Authorization | None:
        """``auth`` with the reservation it uses, or None when the connector is kept for
        someone else."""
        if self.reservations is None:
            return auth
        return await self.reservations.admit(cid, auth, self._clock(), self._idle())

    def _for_group(self, cid: str) -> bool:
        book = self.reservations
        return book is not None and book.for_group(cid, self._clock())

    async def _grant(self, cid: str, auth: sm.Authorization) -> bool:
        """Start with an authorisation already decided (free vend, a tap before the plug)."""
        return (await self._take((cid,), auth, claim=False)).connector_id is not None

    async def _decide_claim(
        self, cid: str, claimed: sm.Authorization, token: Token
    ) -> AuthDecision:
        """Authorise a claimed start and answer the claim; the decision, refused when the
        connector could not be given after all."""
        try:
            decision = await self.auth.decide(token, self._clock())
        except StorageError as exc:
            log.error("token lookup failed", token=masked(token.id_tag), error=str(exc))
            decision = AuthDecision(False, token.id_tag, "storage unavailable", AuthStatus.INVALID)
        except asyncio.CancelledError:
            await self._apply(cid, sm.ClaimAnswered(claimed, None))
            raise
        return await self._answer_claim(cid, claimed, decision)

    async def _answer_claim(
        self, cid: str, claimed: sm.Authorization, decision: AuthDecision
    ) -> AuthDecision:
        async with self._locks[cid]:
            granted = None
            if decision.accepted:
                granted = await self._admit(cid, replace(
                    claimed, parent_id_tag=decision.parent_id_tag, offline=decision.offline,
                    energy_cap_wh=decision.energy_cap_wh,
                ))  # fmt: skip
                if granted is None:
                    decision = _refused(decision, "connector reserved")
            await self._run(cid, sm.ClaimAnswered(claimed, granted))
            if granted is not None and not _holds(self._states[cid], claimed.id_tag):
                decision = _refused(decision, "the start was given up meanwhile")
        if not decision.accepted:
            self._note(cid, f"start refused: {decision.reason}")
        return decision

    async def _authorize_later(self, cid: str, claimed: sm.Authorization) -> CommandResult:
        try:
            self._later.put_nowait((cid, claimed))
        except asyncio.QueueFull:
            await self._apply(cid, sm.ClaimAnswered(claimed, None))
            return CommandResult.failure("too many starts waiting for authorisation")
        return CommandResult.success(cid)

    async def _authorize_later_claims(self) -> None:
        while True:
            cid, claimed = await self._later.get()
            token = Token(claimed.id_tag, key_code=claimed.key_code)
            decision = await self._decide_claim(cid, claimed, token)
            log.info("remote start authorised" if decision.accepted else "remote start refused",
                     connector_id=cid, token=masked(claimed.id_tag),
                     reason=decision.reason)  # fmt: skip

    async def _token_for_next_plug(self, token: Token) -> AuthDecision:
        """A shared reader's tap before any EV: authorise now, keep it for the next plug-in."""
        decision = await self.auth.decide(token, self._clock())
        if not decision.accepted:
            return decision
        taps = self._channels.taps
        route = taps.routes.get(token.reader_id or "") if taps is not None else None
        connectors = route.connectors if route is not None else tuple(self._states)
        wait_s = self._timeouts.plug_timeout_s
        if route is not None:
            wait_s = min(wait_s, route.plug_timeout_s)
        auth = sm.Authorization(
            decision.id_tag, "local", decision.parent_id_tag, decision.offline,
            decision.energy_cap_wh,
        )  # fmt: skip
        pending = _Unassigned(auth, self._clock() + wait_s, connectors)
        self._unassigned[decision.id_tag] = pending
        self.changes.mark(None)  # the plug wait of each connector it may go to
        log.info("card waits for an EV", token=masked(token.id_tag), connectors=list(connectors),
                 until_s=round(pending.until_s, 1))  # fmt: skip
        return decision

    def _note(self, cid: str, text: str) -> None:
        self._notes[cid] = (text, self._clock() + NOTE_S)
        self.changes.mark(cid)

    async def _token_on_session(
        self, cid: str, record: SessionRecord, token: Token, now_s: float
    ) -> AuthDecision:
        decision = None
        owner = same_owner(record.id_tag, None, token.id_tag, None)
        master_pass = self.auth.policy.master_pass_group_id is not None
        if not owner and (record.parent_id_tag is not None or master_pass):
            decision = await self.auth.decide(token, now_s)
            owner = same_owner(
                record.id_tag, record.parent_id_tag, token.id_tag, decision.parent_id_tag
            )
            if not owner and decision.master_pass:
                return decision  # the caller stops what it reaches
        if not owner:
            return AuthDecision(False, token.id_tag, "not the session's owner", AuthStatus.INVALID)
        await self._apply(cid, sm.StopRequested(StopReason.LOCAL, token.id_tag))
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
            await self._grant(cid, sm.Authorization(free_tag, "free"))
            return
        if self._channels.taps is None:
            auth = self._take_unassigned(None)
        else:
            token = self._channels.taps.claim_for_plug(cid)
            if token is None:
                return
            auth = self._take_unassigned(token.id_tag)
            if auth is None:  # tapped, but not authorised yet: do it now
                await self.on_token(token, cid)
                return
        if auth is not None:
            await self._grant(cid, auth)

    def _take_unassigned(self, id_tag: str | None) -> sm.Authorization | None:
        now_s = self._clock()
        live = {tag: v for tag, v in self._unassigned.items() if v.until_s > now_s}
        tag = id_tag if id_tag is not None else min(live, key=lambda t: live[t].until_s,
                                                    default=None)  # fmt: skip
        pending = live.pop(tag, None) if tag is not None else None
        if len(live) != len(self._unassigned):
            self.changes.mark(None)
        self._unassigned = live
        return None if pending is None else pending.auth

    async def _tick_connector(self, cid: str) -> None:
        await self._apply(cid, sm.Tick())
        async with self._locks[cid]:
            if self._states[cid].phase is not sm.Phase.ACTIVE:
                return
            energy = await self._actions.sample(cid, self.sampling, self._clock())
            record = self._actions.open.get(cid)
            if energy is None and record is not None and record.local_id in self._limits:
                # A CSMS limit is checked every tick, not only at samples: a reading, not
                # recorded (the stop records the register it ends at).
                energy = await self._actions.recorder.read_energy(cid)
        if energy is None or record is None:
            return
        reason = self._limit_reached(record, energy.energy_wh)
        if reason is not None:
            await self._apply(cid, sm.StopRequested(reason))

    def _limit_reached(self, record: SessionRecord, energy_wh: int) -> StopReason | None:
        """Why the session must end at this reading: the offline energy cap or the CSMS's
        transaction limit (its register difference, time since start, running cost)."""
        cid, charged_wh = record.connector_id, energy_wh - record.meter_start_wh
        if record.energy_cap_wh is not None and charged_wh >= record.energy_cap_wh:
            log.info("offline energy cap reached", connector_id=cid, cap_wh=record.energy_cap_wh)
            return StopReason.OTHER
        limit = self._limits.get(record.local_id)
        if limit is None:
            return None
        pricing = self._actions.recorder.pricing
        found = None if pricing is None else pricing.outlook(cid)
        cost = None if found is None else found.now.amount
        ahead = None if found is None else found.ahead
        progress = Progress(charged_wh, self._clock() - record.start_at_s, cost, ahead)
        reason = limit_reached(limit, progress)
        if reason is not None:
            log.info("transaction limit reached", connector_id=cid, reason=reason.value,
                     energy_wh=charged_wh, cost=None if cost is None else str(cost))  # fmt: skip
        return reason

    async def set_limit(self, command: SetTransactionLimit) -> CommandResult:
        """Keep the CSMS's limit with its session (stored first: a restart keeps it)."""
        local_id = command.session_local_id
        store = self._actions.recorder.store
        if not await store.set_limit(local_id, command.limit, self._clock()):
            return CommandResult(False, f"session {local_id} is not running")
        running = {r.local_id for r in self._actions.open.values()}
        self._limits = {k: v for k, v in self._limits.items() if k in running}  # ended ones go
        self._limits[local_id] = command.limit
        log.info("transaction limit set", session=local_id, origin=command.origin.value)
        await self._report_limit(local_id)
        return CommandResult(True)

    async def _report_limit(self, local_id: int) -> None:
        """A triggered sample, so the CSMS hears back the limit now (its TransactionEvent
        carries the session's limit), not only with the next periodic one."""
        record = next((r for r in self._actions.open.values() if r.local_id == local_id), None)
        if record is None:
            return
        async with self._locks[record.connector_id]:
            await self._actions.recorder.sample(record, self._clock(), ReadingContext.LIMIT_SET)

    async def change_tariff(self, command: ChangeSessionTariff) -> CommandResult:
        """Price a running session by another tariff from now on (kept with the session); a
        sample then tells the CSMS (2.1 triggerReason TariffChanged). ``answer`` is 2.1's."""
        local_id = command.session_local_id
        record = next((r for r in self._actions.open.values() if r.local_id == local_id), None)
        pricing = self._actions.recorder.pricing
        if record is None or pricing is None:
            missing = f"session {local_id} is not running" if record is None else "no pricing"
            answer = "TxNotFound" if record is None else "Rejected"
            return CommandResult(False, missing, None, answer)
        async with self._locks[record.connector_id]:
            answer, why = await pricing.change_tariff(record, command.tariff, command.source)
            if answer == "Accepted":
                now_s = self._clock()
                await self._actions.recorder.sample(record, now_s, ReadingContext.TARIFF_CHANGED)
        return CommandResult(answer == "Accepted", why, record.connector_id, answer)

    async def _apply(self, cid: str, event: sm.Event) -> None:
        if cid not in self._states:
            raise KeyError(f"unknown connector {cid}")
        async with self._locks[cid]:
            await self._run(cid, event)

    async def _run(self, cid: str, event: sm.Event) -> None:
        """Feed ``event`` to the connector's state machine and carry out what it decides (the
        caller holds the connector's lock)."""
        pending: list[sm.Event] = [event]
        early = self._actions.early.open.get(cid)
        changed = False
        try:
            while pending:
                now_s = self._clock()
                before = self._states[cid]
                current = pending.pop(0)
                state, actions = sm.transition(before, current, now_s, self._timeouts)
                self._states[cid] = state
                self._follow(cid, before, state, current)
                if actions or state != before:
                    changed = True
                    self._shown_changed(cid)  # shown while what it decided is carried out
                for action in actions:
                    follow = await self._actions.perform(cid, action, now_s, plugged=state.plugged)
                    if isinstance(follow, sm.Opened) and self.reservations is not None:
                        await self.reservations.used(cid, action)
                    if follow is not None:
                        pending.append(follow)
            stopping = self._actions.stopping
            await self._actions.early.follow(cid, self._states[cid], event, self._clock(),
                                             stopping=stopping)  # fmt: skip
        finally:
            # A tick or a status that changed nothing marks nothing (a CSMS limit is looked at
            # every tick).
            if changed or self._actions.early.open.get(cid) is not early:
                self._shown_changed(cid)

    def _shown_changed(self, cid: str) -> None:
        # A connector-0 reservation shows on the free connectors of its station: whether one
        # is free is this connector's state too.
        any_held = self.reservations is not None and self.reservations.any_connector_held
        self.changes.mark(None if any_held else cid)

    def _follow(
        self, cid: str, before: sm.SessionState, state: sm.SessionState, event: sm.Event
    ) -> None:
        """Bookkeeping for the views: who waits for a card since when, why a start ended."""
        now_s = self._clock()
        if state.phase is not sm.Phase.WAIT_AUTH:
            self._waiting_since.pop(cid, None)
        elif cid not in self._waiting_since:
            self._waiting_since[cid] = now_s
        if before.phase is not state.phase and state.phase in NEW_START:
            self._notes.pop(cid, None)  # a new attempt: the old note says nothing about it
        timed_out = isinstance(event, sm.Tick) and before.phase is not state.phase
        if timed_out and before.phase is sm.Phase.WAIT_PLUG and before.auth is not None:
            log.info("authorisation given up: no EV plugged in", connector_id=cid,
                     token=masked(before.auth.id_tag))  # fmt: skip
            self._note(cid, "no EV plugged in within ConnectionTimeOut")
        elif timed_out and before.phase is sm.Phase.AUTHORIZING:
            self._note(cid, "start given up: authorisation not answered")


def _holds(state: sm.SessionState, id_tag: str) -> bool:
    """Whether the connector is held for (or runs) a start of ``id_tag``."""
    auth = state.auth
    return state.phase in HOLDING and auth is not None and auth.id_tag.upper() == id_tag.upper()


def _refused(decision: AuthDecision, reason: str) -> AuthDecision:
    return replace(decision, accepted=False, reason=reason, status=AuthStatus.INVALID)
