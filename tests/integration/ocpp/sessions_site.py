"""A site's session side wired to a real uplink as the daemon wires it: the real session
manager on a real database, the command port (``CommandPort``) and the joined connector views
(``ConnectorViews``). The charger side is a ``FakeSite`` whose views
the test sets, as the control loop would show them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from edge_controller.app.commands import CommandPort
from edge_controller.app.views import ConnectorViews
from edge_controller.config.settings import OcppSettings
from edge_controller.domain.commands import Command, CommandResult
from edge_controller.domain.model import CpState, MeterReading
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.state import Timeouts
from edge_controller.domain.snapshot import Availability, ConnectorState, ConnectorView, SiteView
from edge_controller.services.sessions.manager import SessionChannels, SessionManager
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.services.sessions.sampling import Sampling
from edge_controller.services.sessions.setup import SessionOptions, build_session_manager
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.tariff_store import TariffStore
from edge_controller.uplink.authorization import CsmsAuthorization
from edge_controller.uplink.ports import CentralPrices, states_among, views_among
from edge_controller.uplink.service import OcppUplink
from tests.integration.ocpp.harness import FakeMeters, FakeSite, outbox_on, running_uplink
from tests.unit.services.sessions.fixtures import Clock, status

CONNECTORS = ("c1:1", "c1:2")
CARD = "AABBCCDD"
PLUG_TIMEOUT_S = 60.0


class HoldableMeter:
    """A connector meter whose reading can be held back (a slow bus), to catch a session in
    the middle of being recorded."""

    def __init__(self) -> None:
        self.energy_wh = 1000.0
        self.free = asyncio.Event()
        self.free.set()

    async def read(self) -> MeterReading:
        await self.free.wait()
        return MeterReading(
            (230.0,) * 3, (10.0,) * 3, (2300.0,) * 3, 6900.0, self.energy_wh, 0.0, 0.0
        )


class Controller:
    """The site controller's part: it takes the availability commands."""

    async def apply(self, command: Command) -> None:
        del command


@dataclass
class LiveSite:
    """What the uplink talks to: the daemon's command port and composed views."""

    base: FakeSite
    manager: SessionManager
    commands: CommandPort
    clock: Clock
    meters: dict[str, HoldableMeter]
    pricing: SessionPricing | None = None
    db: Database | None = None

    def submit(self, command: Command) -> bool:
        return self.commands.submit(command)

    async def decide(self, command: Command) -> CommandResult:
        return await self.commands.decide(command)

    def transaction_confirmed(self, local_id: int, transaction_id: int, status: str) -> None:
        del local_id, transaction_id, status

    def connectors(self) -> Sequence[ConnectorView]:
        raw = SiteView("site", None, 32.0, None, None, tuple(self.base.views.values()))
        return ConnectorViews(cast(Any, None), self.manager).join(raw)

    def connectors_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorView]:
        return views_among(self.connectors(), connector_ids)

    def states_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorState]:
        return states_among(self.connectors(), connector_ids)

    def reservation_ids(self) -> frozenset[int]:
        return self.manager.reservation_ids()

    def shown(self, cid: str) -> ConnectorView:
        return {v.connector_id: v for v in self.connectors()}[cid]

    async def plug(self, cid: str, seen: Availability = Availability.PREPARING) -> None:
        self.base.set(cid, seen)
        await self.manager.on_charger_status(cid, status(CpState.B))

    async def unplug(self, cid: str) -> None:
        self.base.set(cid, Availability.AVAILABLE)
        await self.manager.on_charger_status(cid, status(CpState.A))


@asynccontextmanager
async def live_site(
    tmp_path: Path,
    tariffs: Mapping[str, Mapping[str, Any]] | None = None,
    csms: CsmsAuthorization | None = None,
) -> AsyncIterator[tuple[LiveSite, Outbox]]:
    """The session side with its command worker running; ``CARD`` is on the local list.
    ``tariffs`` (scope -> tariff JSON): sessions are priced as the daemon prices them.
    ``csms``: where a token the local list lacks is asked about (the uplink serves it)."""
    db = await Database.open(tmp_path / "edge.db")
    clock = Clock(time.time())
    meters = {c: HoldableMeter() for c in CONNECTORS}
    try:
        await AuthStore(db).replace_local_list(1, [AuthEntry(CARD, AuthStatus.ACCEPTED)])
        options = SessionOptions(timeouts=Timeouts(PLUG_TIMEOUT_S, None), sampling=Sampling(0, 0))
        manager = build_session_manager(
            db, CONNECTORS, _Gate(), meters, route=lambda _c: "site1", options=options,
            clock=clock, channels=SessionChannels(csms=csms),
        )  # fmt: skip
        pricing = None
        if tariffs is not None:
            pricing = SessionPricing(TariffStore(db), ZoneInfo("Europe/Berlin"), clock=clock)
            await pricing.apply_config(tariffs)
            manager.recorder.pricing = pricing
        await manager.recover()
        commands = CommandPort(cast(Any, Controller()), manager)
        base = FakeSite()
        for cid in CONNECTORS:
            base.set(cid, Availability.AVAILABLE)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(commands.run()), group.create_task(manager.run(0.05))]
            yield LiveSite(base, manager, commands, clock, meters, pricing, db), outbox_on(db)
            for task in tasks:
                task.cancel()
    finally:
        await db.close()


@asynccontextmanager
async def uplink_to(
    settings: OcppSettings,
    site: LiveSite,
    outbox: Outbox,
    tmp_path: Path,
    prices: CentralPrices | None = None,
    *,
    authorization: CsmsAuthorization | None = None,
    meters: FakeMeters | None = None,
) -> AsyncIterator[OcppUplink]:
    async with running_uplink(
        settings, cast(FakeSite, site), outbox, tmp_path, {"c1": len(CONNECTORS)},
        prices=prices, authorization=authorization, meters=meters,
    ) as uplink:  # fmt: skip
        yield uplink


class _Gate:
    def authorize_charging(self, connector_id: str, allowed: bool) -> None:
        del connector_id, allowed
