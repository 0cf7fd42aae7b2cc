"""Which tariff prices a session, its running cost while it charges, its final cost at stop,
and the price a driver sees before starting.

The tariffs come from the store (``storage.tariff_store``): the config's are applied at start,
each change logged with its source. A session takes its connector's tariff when it opens
(connector, then its charger, then the site's) and keeps it (id + version + source) to the end.
The running cost is ``cost()`` of the session's recorded readings up to the latest one; the
final cost is priced from the readings as stored, in the stop's own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

from edge_controller.domain.commands import StopReason
from edge_controller.domain.payments import with_paid_limit
from edge_controller.domain.pricing import (
    Calendar,
    CostBreakdown,
    Tariff,
    TariffError,
    TariffSwitch,
    TimelineError,
    cost,
)
from edge_controller.domain.pricing.central import CentralCost
from edge_controller.domain.pricing.codec import (
    ad_hoc_json,
    breakdown_to_json,
    running_cost_json,
    tariff_from_json,
)
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.pricing.outlook import CostOutlook, CostPoint, next_reading_s, outlook
from edge_controller.domain.pricing.recorded import (
    AdHocPrice,
    Reading,
    ad_hoc_price,
    moment,
    recorded_timeline,
    session_moment,
)
from edge_controller.log import get_logger
from edge_controller.storage.sessions_store import (
    MeterValueRecord,
    PricedCost,
    PricingInput,
    SessionRecord,
    TariffRef,
)
from edge_controller.storage.tariff_store import (
    SITE,
    Assignment,
    SessionSwitch,
    TariffChange,
    TariffStore,
    same_body,
)

log = get_logger("pricing")


@dataclass(slots=True)
class _Running:
    record: SessionRecord
    tariff: Tariff
    readings: list[Reading] = field(default_factory=list)
    shown: CostBreakdown | None = None  # cost up to the latest reading (None: not yet priced)
    switches: list[TariffSwitch] = field(default_factory=list)  # its tariff changed (2.1)
    point: CostPoint | None = None  # the cost shown, at the reading it was priced to
    before: CostPoint | None = None  # the one priced before it (the rate it rises at)


def scopes_of(connector_id: str) -> tuple[str, ...]:
    """Where a connector's tariff is looked up, most specific first."""
    charger = connector_id.rsplit(":", 1)[0]
    return (connector_id, charger, SITE) if charger != connector_id else (connector_id, SITE)


def final_cost(data: PricingInput, zone: tzinfo) -> CostBreakdown:
    """The cost of a closed session from what was stored (pure; raises on bad data)."""
    record = data.record
    assert record.stop_at_s is not None and record.tariff_version is not None
    tariff = tariff_from_json(data.tariff_body, record.tariff_version)
    switches = [
        TariffSwitch(_on_session_clock(s), tariff_from_json(s.tariff.body, s.tariff.version))
        for s in data.switches
    ]
    if data.paid_limit is not None:
        # The paid amount caps the session: as the max cost of the tariff in force at its end.
        code, minor = data.paid_limit
        paid = Money.of_minor(minor, Currency.of(code))
        if switches:
            switches[-1] = replace(switches[-1], tariff=with_paid_limit(switches[-1].tariff, paid))
        else:
            tariff = with_paid_limit(tariff, paid)
    readings = [Reading(r.at_s, r.energy_wh, r.power_w) for r in data.readings]
    # A power-loss stop is the last recorded register at its time: nothing after it is known.
    known = record.stop_reason != StopReason.POWER_LOSS.value
    line = recorded_timeline(
        record.start_at_s, record.stop_at_s, readings, stop_register_known=known
    )
    return cost(tariff, line, zone, switches)


class SessionPricing:
    def __init__(
        self, store: TariffStore, zone: tzinfo, clock: Callable[[], float] = time.time
    ) -> None:
        self._store, self.zone, self._clock = store, zone, clock
        self._assigned: dict[str, tuple[Tariff, Assignment]] = {}
        self._known: dict[tuple[str, int], Tariff] = {}  # every version a session may use
        self._running: dict[str, _Running] = {}
        self._dirty: set[str] = set()  # connectors with readings the running cost lacks
        self._changed = asyncio.Event()
        self._central: dict[str, tuple[int, CentralCost]] = {}  # connector -> (session, cost)
        self._user_prices: dict[str, str] = {}  # id tag (upper case) -> the CSMS's price text
        self._drivers: dict[str, tuple[Tariff, TariffRef]] = {}  # id tag (upper) -> its tariff
        self._before: dict[str, tuple[Tariff, Assignment]] = {}  # scope -> until valid_from
        # What ``shown`` gave each connector (its session, that session's id tag upper case,
        # the fields), and the price before a start of each tariff (id, version): kept until a
        # tariff, session or CSMS change, or the end of ``_shown_until_s``.
        self._shown: dict[str, tuple[int | None, str | None, dict[str, Any]]] = {}
        self._offers: dict[tuple[str, int], dict[str, Any]] = {}
        self._shown_until_s = -math.inf
        self.on_shown_change: Callable[[str | None], None] = lambda _cid: None

    async def apply_config(self, wanted: Mapping[str, Mapping[str, Any]]) -> list[TariffChange]:
        """The config's tariffs (scope -> tariff JSON); each change is logged with its source."""
        changes = await self._store.apply_config(wanted, self._clock())
        for change in changes:
            log.info("tariff changed", change=change.change, scope=change.scope,
                     tariff_id=change.tariff_id, version=change.version,
                     source=change.source)  # fmt: skip
        await self.reload()
        return changes

    async def assign_site(self, tariff: Mapping[str, Any], source: str) -> bool:
        """A tariff another source gives the whole site (newest wins), in the currency of the
        site's tariff when it names none; False when there is none to take it from or the
        tariff cannot price (logged)."""
        body = dict(tariff)
        if "currency" not in body:
            current = self._assigned.get(SITE)
            if current is None:
                log.warning("tariff refused: no site tariff to take its currency from",
                            source=source)  # fmt: skip
                return False
            body["currency"] = current[0].currency.code
        try:
            tariff_from_json(body)
        except TariffError as exc:
            log.warning("tariff refused", source=source, error=str(exc))
            return False
        for change in await self._store.assign(SITE, body, source, self._clock()):
            log.info("tariff changed", change=change.change, scope=change.scope,
                     tariff_id=change.tariff_id, version=change.version,
                     source=change.source)  # fmt: skip
        await self.reload()
        return True

    async def assign(self, scope: str, tariff: Mapping[str, Any], source: str) -> str | None:
        """A tariff a CSMS gives ``scope`` (newest wins, logged with its source): None when
        taken, else why not. Sessions already running keep the version they started with."""
        try:
            tariff_from_json(tariff)
        except TariffError as exc:
            log.warning("tariff refused", source=source, scope=scope, error=str(exc))
            return str(exc)
        self._log(await self._store.assign(scope, tariff, source, self._clock()))
        await self.reload()
        return None

    async def clear(self, scope: str, source: str, tariff_id: str | None = None) -> str | None:
        """Remove the tariff ``scope`` was given (only ``tariff_id``, when named); the config's
        one for it applies again. The id removed, or None when there was none."""
        changes = await self._store.clear_to_config(scope, source, self._clock(), tariff_id)
        self._log(changes)
        await self.reload()
        return next((c.tariff_id for c in changes if c.change == "cleared"), None)

    def assigned(self) -> dict[str, tuple[Tariff, str]]:
        """Each scope's tariff and who gave it (``scopes_of`` says which applies where)."""
        return {scope: (t, a.source) for scope, (t, a) in self._assigned.items()}

    def currency(self) -> str | None:
        """The site tariff's currency (of any tariff when the site has none)."""
        found = self._assigned.get(SITE) or next(iter(self._assigned.values()), None)
        return None if found is None else found[0].currency.code

    @staticmethod
    def _log(changes: Iterable[TariffChange]) -> None:
        for change in changes:
            log.info("tariff changed", change=change.change, scope=change.scope,
                     tariff_id=change.tariff_id, version=change.version,
                     source=change.source)  # fmt: skip

    async def reload(self) -> None:
        """Take the stored assignments (after a change by any source)."""
        found: dict[str, tuple[Tariff, Assignment]] = {}
        for scope, assignment in (await self._store.assignments()).items():
            stored = await self._store.tariff(assignment.tariff_id, assignment.version)
            if stored is None:
                continue
            try:
                found[scope] = (tariff_from_json(stored.body, stored.version), assignment)
            except TariffError as exc:
                log.error("stored tariff unusable", scope=scope, tariff_id=stored.tariff_id,
                          version=stored.version, error=str(exc))  # fmt: skip
        self._assigned = found
        self._known.update({(t.tariff_id, t.version): t for t, _ in found.values()})
        await self._load_drivers()
        self._before = {}
        for scope, (tariff, assignment) in found.items():
            if tariff.valid_from is not None:
                before = await self._in_force_before(scope, tariff.valid_from, assignment)
                if before is not None:
                    self._before[scope] = before
        self._forget_shown(None)

    async def _in_force_before(
        self, scope: str, valid_from: datetime, assignment: Assignment
    ) -> tuple[Tariff, Assignment] | None:
        """What ``scope`` was given before a tariff valid only from a later time: it prices
        until then (a CSMS announces a new price ahead)."""
        for past in await self._store.history(scope):
            if (past.tariff_id, past.version) == (assignment.tariff_id, assignment.version):
                continue
            stored = await self._store.tariff(past.tariff_id, past.version)
            if stored is None:
                continue
            with contextlib.suppress(TariffError):
                earlier = tariff_from_json(stored.body, stored.version)
                if earlier.valid_from is None or earlier.valid_from < valid_from:
                    self._known[(earlier.tariff_id, earlier.version)] = earlier
                    return earlier, past
        return None

    async def conflicts(self, tariff: Mapping[str, Any]) -> bool:
        """Whether a tariff with this id is stored with other content (a tariff id, once
        given, names one content)."""
        stored = await self._store.latest(str(tariff["id"]))
        return stored is not None and not same_body(stored.body, tariff)

    async def driver_tariff(
        self, id_tag: str, tariff: Mapping[str, Any] | None, source: str
    ) -> str | None:
        """The tariff a CSMS gave one driver with their authorization: it prices their next
        session (None: they have none now). None when taken, else why not (logged)."""
        self._drivers.pop(id_tag.upper(), None)
        refused = None
        if tariff is not None:
            try:
                tariff_from_json(tariff)
            except TariffError as exc:
                log.warning("driver tariff refused", source=source, error=str(exc))
                refused, tariff = str(exc), None
        # Stored, so a restart before their session starts still prices it with this one.
        stored, changes = await self._store.give_driver(id_tag, tariff, source, self._clock())
        self._log(changes)
        if stored is not None:
            self._take_driver(id_tag, stored.body, stored.version, source)
        return refused

    def _take_driver(self, id_tag: str, body: Mapping[str, Any], version: int, source: str) -> None:
        found = tariff_from_json(body, version)
        self._known[(found.tariff_id, found.version)] = found
        self._drivers[id_tag.upper()] = (found, TariffRef(found.tariff_id, found.version, source))

    async def _load_drivers(self) -> None:
        """The drivers' tariffs kept over a restart (those not used by a session yet)."""
        for key, kept in (await self._store.drivers()).items():
            stored = await self._store.tariff(kept.tariff_id, kept.version)
            if stored is None or key in self._drivers:
                continue
            try:
                self._take_driver(key, stored.body, stored.version, kept.source)
            except TariffError as exc:
                log.error("stored driver tariff unusable", tariff_id=kept.tariff_id,
                          version=kept.version, error=str(exc))  # fmt: skip

    def tariff_for(
        self, connector_id: str, id_tag: str | None = None
    ) -> tuple[Tariff, TariffRef] | None:
        """The tariff a session starting now prices with: the driver's own (``id_tag``), if a
        CSMS gave them one, else the connector's."""
        driver = None if id_tag is None else self._drivers.get(id_tag.upper())
        if driver is not None:
            return driver
        now = moment(self._clock())
        for scope in scopes_of(connector_id):
            found = self._assigned.get(scope)
            if found is not None and found[0].valid_from is not None and found[0].valid_from > now:
                found = self._before.get(scope)  # not valid yet: the one before it prices
            if found is not None:
                tariff, assignment = found
                return tariff, TariffRef(tariff.tariff_id, tariff.version, assignment.source)
        return None

    def ad_hoc(self, connector_id: str) -> AdHocPrice | None:
        """The price of a session starting now on this connector (AFIR ad hoc price)."""
        found = self.tariff_for(connector_id)
        if found is None:
            return None
        return ad_hoc_price(found[0], moment(self._clock()), self.zone)

    # --- what the status views show -----------------------------------------------------------
    def shown(self, connector_id: str, record: SessionRecord | None) -> dict[str, Any]:
        """The connector's price before a start, its open session's (``record``) running cost
        and what the CSMS calculated, as the status views show them. Made again only after a
        tariff, session or CSMS change, or at ``shown_until_s``: every connector's view is
        joined at every control step. The same dict is given until then: not to be changed."""
        now_s = self._clock()
        if now_s >= self._shown_until_s:
            self._shown.clear()
            self._offers.clear()
            self._shown_until_s = self._prices_until_s(now_s)
        local_id = None if record is None else record.local_id
        id_tag = None if record is None else record.id_tag
        found = self._shown.get(connector_id)
        if found is not None and found[0] == local_id:
            return found[2]
        running = self.running(connector_id) if record is not None else None
        fields = {
            "price": self._offer(connector_id, now_s),
            "running_cost": None if running is None else running_cost_json(running),
            "csms_cost": self.central(connector_id, id_tag),
        }
        self._shown[connector_id] = (local_id, None if id_tag is None else id_tag.upper(), fields)
        return fields

    def shown_until_s(self) -> float | None:
        """Until when (UTC s) ``shown`` holds without a change: a price of a time of day may
        change at the next minute, a tariff valid from a later time takes over then; None:
        until a change."""
        now_s = self._clock()
        until_s = self._shown_until_s
        if now_s >= until_s:
            until_s = self._prices_until_s(now_s)
        return None if until_s == math.inf else until_s

    def _offer(self, connector_id: str, now_s: float) -> dict[str, Any] | None:
        """The price before a start, made once per tariff for every connector it prices."""
        found = self.tariff_for(connector_id)
        if found is None:
            return None
        tariff = found[0]
        key = (tariff.tariff_id, tariff.version)
        offer = self._offers.get(key)
        if offer is None:
            offer = ad_hoc_json(ad_hoc_price(tariff, moment(now_s), self.zone))
            self._offers[key] = offer
        return offer

    def _prices_until_s(self, now_s: float) -> float:
        # Calendar windows start and end on whole minutes of local time, and every zone's
        # offset is whole minutes: what holds now holds to the end of this UTC minute.
        tariffs = [t for t, _ in (*self._assigned.values(), *self._before.values())]
        ends = [
            at_s
            for t in tariffs
            if t.valid_from is not None and (at_s := t.valid_from.timestamp()) > now_s
        ]
        if any(by_time_of_day(t) for t in tariffs):
            ends.append((now_s // 60 + 1) * 60)
        return min(ends, default=math.inf)

    def _forget_shown(self, connector_id: str | None) -> None:
        """What ``shown`` gave changed: for one connector, or every one (None)."""
        if connector_id is None:
            self._shown.clear()
            self._offers.clear()
            self._shown_until_s = -math.inf
        else:
            self._shown.pop(connector_id, None)
        self.on_shown_change(connector_id)

    # --- running sessions ---------------------------------------------------------------------
    async def resume(self, record: SessionRecord, readings: Iterable[MeterValueRecord]) -> None:
        """Follow a session left open by the last run, with what it recorded then."""
        ref = record.tariff
        if ref is not None and (ref.tariff_id, ref.version) not in self._known:
            stored = await self._store.tariff(ref.tariff_id, ref.version)
            if stored is not None:
                with contextlib.suppress(TariffError):
                    self._known[(ref.tariff_id, ref.version)] = tariff_from_json(
                        stored.body, stored.version
                    )
        self.begin(record, readings)
        running = self._running.get(record.connector_id)
        if running is None or running.record.local_id != record.local_id:
            return
        for kept in await self._store.session_switches(record.local_id):
            try:
                tariff = tariff_from_json(kept.tariff.body, kept.tariff.version)
            except TariffError as exc:
                log.error("session tariff change unusable", local_id=record.local_id,
                          tariff_id=kept.tariff.tariff_id, error=str(exc))  # fmt: skip
                continue
            running.switches.append(TariffSwitch(_on_session_clock(kept), tariff))

    async def change_tariff(
        self, record: SessionRecord, tariff: Mapping[str, Any], source: str
    ) -> tuple[str, str | None]:
        """From now on ``tariff`` prices the open session ``record`` (OCPP 2.1
        ChangeTransactionTariff; ``domain.pricing.cost`` says how the tariffs combine). The
        answer in 2.1's words (Accepted, TxNotFound, NoCurrencyChange, Rejected) and why not."""
        running = self._running.get(record.connector_id)
        if running is None or running.record.local_id != record.local_id:
            return "TxNotFound", f"session {record.local_id} is not running with a tariff"
        try:
            new = tariff_from_json(tariff)
        except TariffError as exc:
            return "Rejected", str(exc)
        if new.currency != running.tariff.currency:
            return "NoCurrencyChange", (
                f"the session is priced in {running.tariff.currency.code}, not {new.currency.code}"
            )
        at_s = self._clock()
        # On the session's clock: after a clock step back the change is as far after the last
        # reading as the site's clock moved on since, so it reprices nothing priced before it.
        on_session = session_moment(record.start_at_s, running.readings, at_s).timestamp()
        kept = await self._store.change_session_tariff(
            record.local_id, tariff, source, (at_s, on_session)
        )
        if kept is None:
            return "TxNotFound", f"session {record.local_id} has ended"
        stored, changes = kept
        self._log(changes)
        found = tariff_from_json(stored.body, stored.version)
        self._known[(found.tariff_id, found.version)] = found
        running.switches.append(TariffSwitch(moment(on_session), found))
        self._mark(record.connector_id)
        log.info("session tariff changed", local_id=record.local_id, tariff_id=found.tariff_id,
                 version=found.version, source=source)  # fmt: skip
        return "Accepted", None

    def begin(self, record: SessionRecord, readings: Iterable[MeterValueRecord] = ()) -> None:
        """Follow an open session (``readings``: those recorded before a restart)."""
        ref = record.tariff
        if ref is None:
            return
        tariff = self._tariff_of(ref)
        if tariff is None:
            log.warning("session tariff not found", local_id=record.local_id,
                        tariff_id=ref.tariff_id, version=ref.version)  # fmt: skip
            return
        driver = self._drivers.get(record.id_tag.upper())
        if driver is not None and driver[1] == ref:
            del self._drivers[record.id_tag.upper()]  # it priced their session: used
        kept = [Reading(r.at_s, r.energy_wh, r.power_w) for r in readings]
        if not kept:
            kept = [Reading(record.start_at_s, record.meter_start_wh)]
        shown = self._central.get(record.connector_id)
        if shown is not None and shown[0] != record.local_id:
            del self._central[record.connector_id]  # the last session's cost was shown enough
        self._running[record.connector_id] = _Running(record, tariff, kept)
        self._mark(record.connector_id)
        self._forget_shown(record.connector_id)

    # --- what a CSMS calculates (shown as sent) ------------------------------------------------
    def central_cost(self, connector_id: str, local_id: int, found: CentralCost) -> None:
        """A running or final cost the CSMS sent for session ``local_id``; a final cost stays
        shown until the connector's next session."""
        shown = self._central.get(connector_id)
        if shown is not None and shown[0] == local_id and shown[1].final and not found.final:
            return  # a running cost that arrives after the final one says nothing new
        self._central[connector_id] = (local_id, found)
        self._forget_shown(connector_id)

    def user_price(self, id_tag: str, text: str) -> None:
        key = id_tag.upper()
        self._user_prices[key] = text
        for connector_id in [c for c, (_, tag, _) in self._shown.items() if tag == key]:
            self._forget_shown(connector_id)

    def central(self, connector_id: str, id_tag: str | None) -> dict[str, Any] | None:
        """The CSMS's cost for the connector's (last) session and its price text for the id."""
        found = self._central.get(connector_id)
        text = None if id_tag is None else self._user_prices.get(id_tag.upper())
        if found is None and text is None:
            return None
        shown = {} if found is None else found[1].shown() | {"session_id": str(found[0])}
        return shown | {"user_price_text": text}

    def reading(self, local_id: int, connector_id: str, at: Reading) -> None:
        """A register reading recorded for an open session."""
        running = self._running.get(connector_id)
        if running is None or running.record.local_id != local_id:
            return
        running.readings.append(at)
        self._mark(connector_id)

    def end(self, connector_id: str) -> None:
        self._running.pop(connector_id, None)
        self._forget_shown(connector_id)

    def running(self, connector_id: str) -> CostBreakdown | None:
        """The open session's cost up to its latest reading (None: no session or tariff)."""
        found = self._running.get(connector_id)
        return None if found is None else found.shown

    async def cost_with(self, local_id: int, connector_id: str, at: Reading) -> Any | None:
        """The running cost of the open session ``local_id`` up to a reading about to be
        recorded (breakdown JSON), priced in a worker thread; None: not priced. The reading
        itself is taken by ``reading`` once recorded."""
        running = self._running.get(connector_id)
        if running is None or running.record.local_id != local_id:
            return None
        readings = (*running.readings, at)
        try:
            found = await asyncio.to_thread(
                _running_cost, running.tariff, running.record, readings, self.zone,
                tuple(running.switches),
            )  # fmt: skip
        except (TariffError, TimelineError, ValueError, ArithmeticError) as exc:
            log.error("running cost not priced", local_id=local_id, error=str(exc))
            return None
        return breakdown_to_json(found)

    def outlook(self, connector_id: str) -> CostOutlook | None:
        """The open session's cost now and projected to its next reading (None: no session
        or not priced yet); the cost limits stop on it (``domain.pricing.outlook``)."""
        found = self._running.get(connector_id)
        if found is None or found.point is None:
            return None
        times = [r.at_s for r in found.readings[-2:]]
        return outlook(found.before, found.point, next_reading_s(times))

    def price(self, data: PricingInput) -> PricedCost | None:
        """The stop's pricing (called in the stop's transaction): None when it cannot be
        priced, which is logged and leaves the stop as recorded."""
        try:
            found = final_cost(data, self.zone)
        except (TariffError, TimelineError, ValueError, ArithmeticError) as exc:
            log.error("session not priced", local_id=data.record.local_id, error=str(exc))
            return None
        return PricedCost(
            found.currency.code,
            found.total_excl_tax.minor,
            found.total_incl_tax.minor,
            breakdown_to_json(found),
        )

    def _tariff_of(self, ref: TariffRef) -> Tariff | None:
        return self._known.get((ref.tariff_id, ref.version))

    def _mark(self, connector_id: str) -> None:
        self._dirty.add(connector_id)
        self._changed.set()

    async def refresh(self) -> None:
        """Bring every running cost up to its latest reading. A long session's cost takes
        tens of milliseconds: it is computed in a worker thread, so the control loop keeps its
        turn (the interpreter switches threads every few milliseconds)."""
        self._changed.clear()
        dirty, self._dirty = self._dirty, set()
        for connector_id in sorted(dirty):
            running = self._running.get(connector_id)
            if running is None:
                continue
            readings = tuple(running.readings)
            try:
                switches = tuple(running.switches)
                found = await asyncio.to_thread(
                    _running_cost, running.tariff, running.record, readings, self.zone, switches
                )
            except (TariffError, TimelineError, ValueError, ArithmeticError) as exc:
                log.error("running cost not priced", local_id=running.record.local_id,
                          error=str(exc))  # fmt: skip
                continue
            if self._running.get(connector_id) is running:  # still the same session
                running.shown = found
                _advance(running, CostPoint(readings[-1].at_s, found.total_incl_tax))
                self._forget_shown(connector_id)

    async def run(self, coalesce_s: float = 1.0) -> None:
        """Refresh the running costs as readings arrive (at most once per ``coalesce_s``)."""
        while True:
            await self._changed.wait()
            await self.refresh()
            await asyncio.sleep(coalesce_s)


def by_time_of_day(tariff: Tariff) -> bool:
    """Whether the price before a start of ``tariff`` depends on the time (its calendars)."""
    lists = (tariff.energy, tariff.charging_time, tariff.idle_time, tariff.fixed_fee)
    for price_list in lists:
        for element in () if price_list is None else price_list.prices:
            conditions = getattr(element, "conditions", None)
            if conditions is not None and conditions.calendar != Calendar():
                return True
    return False


def _advance(running: _Running, point: CostPoint) -> None:
    """The newest priced point; the one before it stays as the rate's start."""
    if running.point is not None and point.at_s <= running.point.at_s:
        running.point = point  # the same reading priced again (or a clock step back)
        return
    running.before, running.point = running.point, point


def _on_session_clock(switch: SessionSwitch) -> datetime:
    """A stored tariff change's moment on its session's clock."""
    return moment(switch.at_s if switch.session_at_s is None else switch.session_at_s)


def _running_cost(
    tariff: Tariff,
    record: SessionRecord,
    readings: tuple[Reading, ...],
    zone: tzinfo,
    switches: tuple[TariffSwitch, ...],
) -> CostBreakdown:
    # Up to the latest reading recorded (after a clock step back, not the one latest in time).
    last_s = readings[-1].at_s
    line = recorded_timeline(record.start_at_s, last_s, readings)
    return cost(tariff, line, zone, switches)
