"""What a real Mosquitto holds of each connector's state equals the sources after every kind of
change, one control step after it: the charger's status, a session's start and stop, its energy
and running cost, the price before a start (a new tariff, and the time of day moving past a
tariff's window), the CSMS's cost, and the connector's limit. The feed joins only the connectors
whose state may have changed and keeps the price fields between changes: a change it did not
hear of would leave the broker's state behind the sources."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge_controller.app.telemetry import MqttFeed
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.pricing.central import CentralCost
from edge_controller.domain.pricing.codec import ad_hoc_json, running_cost_json
from edge_controller.domain.pricing.recorded import Reading
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.snapshot import Availability
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.tariff_store import SITE, TariffStore
from edge_controller.telemetry import MqttService, payloads
from tests.integration.mqtt.broker import Mosquitto
from tests.integration.mqtt.conftest import CONNECTORS, RecordingSink, make_service, running
from tests.integration.mqtt.helpers import app_client, as_json, topic
from tests.unit.app.site_snapshots import Snapshots, site_views
from tests.unit.services.sessions.fixtures import Clock, Rig, make_rig, status
from tests.unit.services.sessions.test_pricing import BERLIN, VAT

pytestmark = pytest.mark.integration
CARD, OTHER_CARD = "AABBCCDD", "11223344"
# 21:59:30 in Berlin: the night price starts half a minute later.
EVENING_S = datetime(2026, 1, 15, 20, 59, 30, tzinfo=UTC).timestamp()


def by_time_of_day(day_per_kwh: str = "0.40") -> dict[str, Any]:
    """Net prices per kWh: 0.30 from 22:00 to 06:00, ``day_per_kwh`` else."""
    night = {"start_time_of_day": "22:00", "end_time_of_day": "06:00"}
    return {
        "id": "tod",
        "currency": "EUR",
        "energy": {
            "prices": [
                {"price_per_kwh": "0.30", "conditions": night},
                {"price_per_kwh": day_per_kwh},
            ],
            "tax_rates": VAT,
        },
    }


class Retained:
    """The latest state the broker sent of each connector (an independent subscriber)."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}

    async def follow(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.states[str(message.topic)] = as_json(message)

    def of(self, connector_id: str) -> dict[str, Any] | None:
        return self.states.get(topic(f"connectors/{connector_id.replace(':', '-')}/state"))


@dataclasses.dataclass
class Feed:
    rig: Rig
    pricing: SessionPricing
    snapshots: Snapshots
    feed: MqttFeed
    retained: Retained

    def source(self, connector_id: str) -> dict[str, Any]:
        """What the connector's state must say now (but its time): its control-loop view
        joined with the session side, the price fields made again from the tariffs, the
        session's readings and the CSMS's cost rather than taken from what is kept."""
        manager, pricing = self.rig.manager, self.pricing
        record = manager.open_session(connector_id)
        offer = pricing.ad_hoc(connector_id)
        running_cost = pricing.running(connector_id) if record is not None else None
        view = dataclasses.replace(
            manager.connector_view(self.snapshots.raw[connector_id]),
            price=None if offer is None else ad_hoc_json(offer),
            running_cost=None if running_cost is None else running_cost_json(running_cost),
            csms_cost=pricing.central(connector_id, None if record is None else record.id_tag),
        )
        body = payloads.connector_payload(view)
        del body["at_s"]
        return body

    async def step(self) -> dict[str, dict[str, Any]]:
        """One control step a second on; waits until the broker's state of each connector is
        what its sources say (fails after 10 s with the difference). The states published."""
        self.rig.clock.now_s += 1.0
        self.feed.step(self.snapshots.snapshot())
        shown: dict[str, dict[str, Any]] = {}
        for cid in CONNECTORS:
            expected = self.source(cid)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10.0):
                    while self.published(cid) != expected:  # noqa: ASYNC110 - the broker's
                        await asyncio.sleep(0.01)
            assert self.published(cid) == expected, cid
            shown[cid] = expected
        return shown

    def published(self, connector_id: str) -> dict[str, Any] | None:
        found = self.retained.of(connector_id)
        return None if found is None else {k: v for k, v in found.items() if k != "at_s"}


@contextlib.asynccontextmanager
async def feed_to(broker: Mosquitto, sink: RecordingSink, tmp_path: Path) -> AsyncIterator[Feed]:
    clock = Clock(EVENING_S)
    rig = await make_rig(tmp_path / "edge.db", connectors=CONNECTORS, clock=clock)
    try:
        pricing = SessionPricing(TariffStore(rig.db), BERLIN, clock=clock)
        await pricing.apply_config({SITE: by_time_of_day()})
        rig.manager.recorder.pricing = pricing
        snapshots = Snapshots(CONNECTORS, clock)
        service: MqttService = make_service(broker, sink, ha_discovery=False)
        feed = MqttFeed(service, site_views(snapshots, rig.manager), rig.manager, None, clock)
        retained = Retained()
        async with running(service), app_client(broker) as app:
            await app.subscribe(topic("connectors/+/state"))
            follower = asyncio.create_task(retained.follow(app))
            try:
                yield Feed(rig, pricing, snapshots, feed, retained)
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
    finally:
        await rig.db.close()


async def test_the_published_states_equal_the_sources_after_each_kind_of_change(
    broker: Mosquitto, sink: RecordingSink, tmp_path: Path
) -> None:
    one, two = CONNECTORS
    async with feed_to(broker, sink, tmp_path) as site:
        manager, pricing, snapshots = site.rig.manager, site.pricing, site.snapshots
        shown = await site.step()
        assert shown[one]["price"]["per_kwh"] == "0.476"  # the day price, 19 % VAT on 0.40
        assert shown[one]["availability"] == "Available" and shown[one]["session_id"] is None

        # A card tapped before its EV comes: the authorisation waits for it.
        site.rig.csms.answers[OTHER_CARD] = AuthEntry(OTHER_CARD, AuthStatus.ACCEPTED)
        assert (await manager.on_token(Token(OTHER_CARD), two)).accepted
        shown = await site.step()
        assert shown[two]["availability"] == "Preparing"
        assert shown[two]["waiting_for_plug"]["id_tag"] is not None

        # The charger's status: a fault, and an EV plugged in.
        snapshots.set(two, availability=Availability.FAULTED, fault_text="RCD tripped")
        snapshots.set(one, availability=Availability.PREPARING)
        await manager.on_charger_status(one, status(CpState.B))
        shown = await site.step()
        assert (shown[two]["availability"], shown[two]["fault_text"]) == ("Faulted", "RCD tripped")
        assert shown[one]["availability"] == "Preparing"

        # A session starts (the control loop's view has not moved).
        site.rig.csms.answers[CARD] = AuthEntry(CARD, AuthStatus.ACCEPTED)
        assert (await manager.on_token(Token(CARD), one)).accepted
        record = manager.open_session(one)
        assert record is not None
        shown = await site.step()
        assert shown[one]["session_id"] == str(record.local_id)

        # It charges, then its energy moves.
        snapshots.set(one, availability=Availability.CHARGING, offered_current_a=16.0,
                      measured_current_a=(15.9, 15.8, 16.0), power_w=11000.0,
                      session_energy_wh=0.0, limit_reason="fair share")  # fmt: skip
        await site.step()
        snapshots.set(one, session_energy_wh=1500.0)
        assert (await site.step())[one]["session_energy_wh"] == 1500.0

        # Its running cost, priced from a recorded reading.
        reading = Reading(site.rig.clock.now_s, int(record.meter_start_wh) + 1500, 11000.0)
        pricing.reading(record.local_id, one, reading)
        await pricing.refresh()
        shown = await site.step()
        assert shown[one]["running_cost"]["incl_tax"] == "0.71"  # 1.5 kWh at 0.476

        # What the CSMS calculated for it.
        pricing.central_cost(one, record.local_id, CentralCost(Decimal("0.80"), False))
        assert (await site.step())[one]["csms_cost"]["cost"] == "0.80"

        # A new tariff, then the time of day past its window: the price before a start.
        await pricing.assign(SITE, by_time_of_day("0.50"), "csms")
        assert (await site.step())[two]["price"]["per_kwh"] == "0.595"
        site.rig.clock.now_s = EVENING_S + 35.0  # 22:00:05 after the step's second
        assert (await site.step())[two]["price"]["per_kwh"] == "0.357"

        # The connector's limit.
        snapshots.set(one, offered_current_a=10.0, limit_reason="grid 32 A")
        shown = await site.step()
        assert (shown[one]["offered_current_a"], shown[one]["limit_reason"]) == (10.0, "grid 32 A")

        # The session stops by the same card; the cable is still in.
        assert (await manager.on_token(Token(CARD), one)).accepted
        assert manager.open_session(one) is None
        shown = await site.step()
        assert shown[one]["session_id"] is None and shown[one]["availability"] == "Finishing"
        assert shown[one]["running_cost"] is None


async def test_an_energy_move_under_its_step_is_published_in_its_period_whatever_joined_it(
    broker: Mosquitto, sink: RecordingSink, tmp_path: Path
) -> None:
    # A few Wh under energy_step_wh, and in the same second a card tapped at a shared reader
    # joins every connector for its plug wait: that join held the last Wh back for good.
    one = CONNECTORS[0]
    async with feed_to(broker, sink, tmp_path) as site:
        manager, snapshots, clock = site.rig.manager, site.snapshots, site.rig.clock
        site.rig.csms.answers[CARD] = AuthEntry(CARD, AuthStatus.ACCEPTED)
        await manager.on_charger_status(one, status(CpState.C))
        assert (await manager.on_token(Token(CARD), one)).accepted
        snapshots.set(one, availability=Availability.CHARGING, offered_current_a=16.0,
                      session_energy_wh=1000.0)  # fmt: skip
        assert (await site.step())[one]["session_energy_wh"] == 1000.0

        snapshots.set(one, session_energy_wh=1005.0)
        site.rig.csms.answers[OTHER_CARD] = AuthEntry(OTHER_CARD, AuthStatus.ACCEPTED)
        assert (await manager.on_token(Token(OTHER_CARD), None)).accepted
        for _ in range(12):  # past energy_every_s (10 s) from its last publish
            clock.now_s += 1.0
            site.feed.step(snapshots.snapshot())
        async with asyncio.timeout(10.0):
            while (site.published(one) or {}).get("session_energy_wh") != 1005.0:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert site.published(one) == site.source(one)
