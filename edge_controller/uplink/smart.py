"""Turns installed charging profiles into external limits for the load balancer, continuously.

Limits are re-evaluated every few seconds (schedules move with time) and at once when a
profile changes. A TxProfile lives as long as its transaction. The installed profiles are kept
as the CSMS sent them (``ProfileStore``) in the identity's state file and read as the domain's
limit schedules (``v16.charging_profiles``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from edge_controller.domain import limit_schedule as cp
from edge_controller.domain.model import Limit
from edge_controller.domain.snapshot import ConnectorState
from edge_controller.log import get_logger
from edge_controller.uplink.link import IdentityCore
from edge_controller.uplink.ports import LimitSink, Station
from edge_controller.uplink.state_file import OcppStateFile
from edge_controller.uplink.v16.charging_profiles import parse

log = get_logger("uplink.smart")


class ProfileStore:
    def __init__(self, config: OcppStateFile, changed: Callable[[], None]) -> None:
        """``changed``: called after each change, to evaluate the limits at once."""
        self._config = config
        self._raw: list[dict[str, Any]] = []
        self.profiles: list[cp.LimitSchedule] = []
        self._changed = changed
        for entry in config.charging_profiles():
            try:
                self._add(int(entry["connector"]), entry["profile"])
            except (KeyError, ValueError, TypeError) as exc:
                log.error("stored charging profile dropped", error=repr(exc))

    def _add(self, connector: int, raw: dict[str, Any]) -> cp.LimitSchedule:
        profile = parse(connector, raw)
        keep = [
            i
            for i, p in enumerate(self.profiles)
            if p.id != profile.id
            and (p.connector, p.purpose, p.stack_level)
            != (profile.connector, profile.purpose, profile.stack_level)
        ]
        self.profiles = [self.profiles[i] for i in keep] + [profile]
        self._raw = [self._raw[i] for i in keep] + [{"connector": connector, "profile": raw}]
        return profile

    def install(self, connector: int, raw: dict[str, Any]) -> cp.LimitSchedule:
        """Add or replace (same id, or same connector+purpose+stack level). Raises ValueError."""
        profile = self._add(connector, raw)
        self._saved()
        return profile

    def remove(self, wanted: Any) -> int:
        """Remove every profile for which ``wanted(profile)`` is true; returns how many."""
        keep = [i for i, p in enumerate(self.profiles) if not wanted(p)]
        removed = len(self.profiles) - len(keep)
        if removed:
            self.profiles = [self.profiles[i] for i in keep]
            self._raw = [self._raw[i] for i in keep]
            self._saved()
        return removed

    def bind_transaction(self, connector: int, transaction_id: int) -> None:
        """A TxProfile given with RemoteStartTransaction belongs to the transaction it started."""
        for index, profile in enumerate(self.profiles):
            pending = profile.transaction_id is None and profile.connector == connector
            if profile.purpose is cp.Purpose.SESSION and pending:
                raw = dict(self._raw[index]["profile"], transactionId=transaction_id)
                self._raw[index] = {"connector": connector, "profile": raw}
                self.profiles[index] = parse(connector, raw)
                self._saved()

    def _saved(self) -> None:
        self._config.set_charging_profiles(self._raw)
        self._changed()


EVALUATE_EVERY_S = 5.0
NO_LIMITS: tuple[dict[str, Limit], Limit | None] = ({}, None)


class SmartCharging:
    """One identity's limits from its profiles, looked at by the uplink's ``Pacer``: every
    ``EVALUATE_EVERY_S`` and at once when a profile changes, in a task of its own while it
    evaluates, so a CSMS limit never waits behind a sample's commit."""

    def __init__(
        self,
        core: IdentityCore,
        sink: LimitSink,
        station: Station,
        soon: Callable[[SmartCharging], None],
    ) -> None:
        """``station``: the electrical facts that convert W to A, and the most a profile may
        ask for; ``soon``: asks for an evaluation at once (a profile changed)."""
        self.core = core
        self.sink = sink
        self.electrical = station.electrical
        self.max_current_a = station.max_current_a
        self._soon = soon
        self.store = ProfileStore(core.config, self._changed)
        self._seen_start_s: dict[int, float] = {}
        self._pushed: tuple[dict[str, Limit], Limit | None] | None = None
        # 2.x: the station makes the transaction ids, so a session profile is bound to the
        # local session id (set by the 2.x station) instead of the CSMS's number
        self.local_transaction_ids = False

    async def transaction(self, connector: int) -> tuple[int | None, float] | None:
        try:
            local = self.core.topology.connector_id(self.core.identity, connector)
        except KeyError:
            return None
        state = next(iter(self.core.status.states_of((local,))), None)
        if state is None or not _numbered(state):
            self._seen_start_s.pop(connector, None)
            return None
        now_s = self.core.clock.csms_now_s(self.core.now_s())
        start_s = self._seen_start_s.setdefault(connector, now_s)
        session_id = int(str(state.session_id))
        if self.local_transaction_ids:
            return session_id, start_s
        remote = await self.core.outbox.remote_transaction_id(session_id)
        return remote, start_s

    def composite(
        self, connector: int, start_s: float, duration_s: float, tx: tuple[int | None, float] | None
    ) -> list[tuple[float, float]]:
        count = len(self.core.connector_numbers()) if connector == 0 else 1
        return cp.composite(
            self.store.profiles,
            connector,
            start_s=start_s,
            duration_s=duration_s,
            transaction=tx,
            electrical=self.electrical,
            unlimited_a=self.max_current_a * count,
        )

    def _changed(self) -> None:
        self._soon(self)

    def look(self) -> Coroutine[Any, Any, None] | None:
        """The evaluation, while there are profiles or limits they left to clear. Without
        either it would push nothing and await a database read per running session: the
        transactions' starts are noted at once (a relative profile that comes later counts
        from them) and nothing is left to await, so the pacer makes no task for it."""
        if self.store.profiles or self._pushed != NO_LIMITS:
            return self.evaluate()
        self._note_starts()
        return None

    def _note_starts(self) -> None:
        """When each connector's running session was first seen (as ``transaction`` notes)."""
        mine = self.core.topology.connectors(self.core.identity)
        running = {s.connector_id for s in self.core.status.states_of(mine) if _numbered(s)}
        now_s = self.core.clock.csms_now_s(self.core.now_s())
        for number, local in enumerate(mine, start=1):
            if local in running:
                self._seen_start_s.setdefault(number, now_s)
            else:
                self._seen_start_s.pop(number, None)

    def wait_s(self) -> float:
        return EVALUATE_EVERY_S

    async def evaluate(self) -> None:
        now_s = self.core.clock.csms_now_s(self.core.now_s())
        limits: dict[str, Limit] = {}
        for number in self.core.connector_numbers():
            tx = await self.transaction(number)
            self._expire_tx_profiles(number, tx)
            found = cp.connector_limit(self.store.profiles, number, now_s, tx, self.electrical)
            if found is not None:
                local = self.core.topology.connector_id(self.core.identity, number)
                limits[local] = Limit(round(found[0], 2), f"csms profile {found[1].id}")
        top = cp.charge_point_limit(self.store.profiles, now_s, self.electrical)
        total = None if top is None else Limit(round(top[0], 2), f"csms profile {top[1].id}")
        if self._pushed != (limits, total):
            self._pushed = (limits, total)
            self.sink.set_external_limits(self.core.identity, limits, total)

    def _expire_tx_profiles(self, connector: int, tx: tuple[int | None, float] | None) -> None:
        if tx is not None and tx[0] is not None:
            self.store.bind_transaction(connector, tx[0])
        current = tx[0] if tx is not None else None
        self.store.remove(
            lambda p: (
                p.purpose is cp.Purpose.SESSION
                and p.connector == connector
                and p.transaction_id is not None
                and p.transaction_id != current
            )
        )


def _numbered(state: ConnectorState) -> bool:
    """A session runs on the connector (its id is the local transaction id)."""
    return bool(state.session_id) and str(state.session_id).isdigit()
