"""The MQTT feed joins a connector's view with the session side only when its state may have
changed, and the price fields are made once per tariff until a tariff, session or CSMS change:
a snapshot where nothing changed builds no view, no payload and no price, at any site size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_controller.app.telemetry import MqttFeed
from edge_controller.config.settings import MqttSettings
from edge_controller.domain.commands import Command, CommandResult
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.snapshot import Availability
from edge_controller.services.sessions import pricing as pricing_module
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.tariff_store import SITE, TariffStore
from edge_controller.telemetry import MqttService, payloads
from tests.unit.app.site_snapshots import Snapshots, site_views
from tests.unit.services.sessions.fixtures import Rig, make_rig, status
from tests.unit.services.sessions.test_pricing import BERLIN, standard

CONNECTORS = tuple(f"cp{n}:1" for n in range(1, 41))
CHARGING = CONNECTORS[::2]  # an open session on every other connector


class _Sink:
    async def decide(self, command: Command) -> CommandResult:
        return CommandResult.failure("not used")


def counted(counts: Counter[str], name: str, build: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return build(*args, **kwargs)

    return wrapper


async def feed_rig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Rig, Snapshots, MqttFeed, Counter[str]]:
    rig = await make_rig(tmp_path / "edge.db", connectors=CONNECTORS)
    pricing = SessionPricing(TariffStore(rig.db), BERLIN, clock=rig.clock)
    await pricing.apply_config({SITE: standard()})
    rig.manager.recorder.pricing = pricing
    for n, cid in enumerate(CHARGING):
        tag = f"TAG{n}"
        rig.csms.answers[tag] = AuthEntry(tag, AuthStatus.ACCEPTED)
        await rig.manager.on_charger_status(cid, status(CpState.C))
        assert (await rig.manager.on_token(Token(tag), cid)).accepted
    snapshots = Snapshots(CONNECTORS, rig.clock)
    for cid in CHARGING:
        snapshots.set(cid, availability=Availability.CHARGING, offered_current_a=16.0,
                      session_energy_wh=0.0)  # fmt: skip
    mqtt = MqttService(
        MqttSettings(enabled=True, ha_discovery=False, max_state_topics=500),
        prefix="edge/site1", site_id="site1", connector_ids=CONNECTORS, sink=_Sink(),
    )  # fmt: skip
    feed = MqttFeed(mqtt, site_views(snapshots, rig.manager), rig.manager, None, rig.clock)
    counts: Counter[str] = Counter()
    builders = [
        (rig.manager, "connector_view", "views"),
        (payloads, "connector_payload", "payloads"),
    ]
    builders += [(pricing_module, name, name) for name in ("ad_hoc_json", "running_cost_json")]
    for owner, attribute, name in builders:
        monkeypatch.setattr(owner, attribute, counted(counts, name, getattr(owner, attribute)))
    return rig, snapshots, feed, counts


def tick(rig: Rig, snapshots: Snapshots, feed: MqttFeed, counts: Counter[str]) -> Counter[str]:
    """One control step's snapshot fed, a second later; what it built."""
    counts.clear()
    rig.clock.now_s += 1.0
    feed.step(snapshots.snapshot())
    return Counter(counts)


async def test_a_snapshot_that_changes_nothing_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig, snapshots, feed, counts = await feed_rig(tmp_path, monkeypatch)
    first = tick(rig, snapshots, feed, counts)
    # Every connector is joined and published once; the price before a start once for the
    # site's tariff, not once per connector.
    assert (first["views"], first["payloads"]) == (len(CONNECTORS), len(CONNECTORS))
    assert first["ad_hoc_json"] == 1
    for _ in range(3):
        assert tick(rig, snapshots, feed, counts) == Counter()

    snapshots.set(CONNECTORS[1], offered_current_a=10.0, limit_reason="grid 32 A")
    assert tick(rig, snapshots, feed, counts) == Counter(views=1, payloads=1)

    await rig.manager.on_charger_status(CHARGING[1], status(CpState.A))  # unplugged: it ends
    assert rig.manager.open_session(CHARGING[1]) is None
    ended = tick(rig, snapshots, feed, counts)
    assert (ended["views"], ended["payloads"], ended["ad_hoc_json"]) == (1, 1, 0)
    assert tick(rig, snapshots, feed, counts) == Counter()


async def test_the_price_fields_are_made_again_only_after_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig, snapshots, feed, counts = await feed_rig(tmp_path, monkeypatch)
    tick(rig, snapshots, feed, counts)
    pricing = rig.manager.recorder.pricing
    assert pricing is not None
    views = site_views(snapshots, rig.manager)
    counts.clear()
    for _ in range(3):  # what the web and the uplink join, every connector each time
        views.compose(snapshots.snapshot())
    assert counts["ad_hoc_json"] == 0 and counts["running_cost_json"] == 0

    await pricing.assign(SITE, standard("0.55"), "csms")  # a new tariff: every connector
    changed = tick(rig, snapshots, feed, counts)
    assert (changed["views"], changed["payloads"], changed["ad_hoc_json"]) == (40, 40, 1)
    offer = rig.manager.connector_view(snapshots.raw[CONNECTORS[1]]).price
    assert offer is not None and offer["per_kwh"] == "0.6545"  # 0.55 with 19 % VAT

    pricing.user_price("TAG0", "0.55 EUR/kWh")  # the CSMS's text for one driver
    assert tick(rig, snapshots, feed, counts)["views"] == 1
    shown = rig.manager.connector_view(snapshots.raw[CHARGING[0]]).csms_cost
    assert shown == {"user_price_text": "0.55 EUR/kWh"}


async def test_the_views_joined_again_at_each_snapshot_equal_a_whole_join(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the web display waits for: only the connectors that changed are joined, the
    # others take the session side's fields of their last join.
    rig, snapshots, _, counts = await feed_rig(tmp_path, monkeypatch)
    views = site_views(snapshots, rig.manager)
    manager = rig.manager
    pricing = manager.recorder.pricing
    assert pricing is not None

    async def joined_again() -> tuple[int, bool]:
        """The views joined for the next snapshot (how many joins), and whether they equal
        every connector joined anew."""
        rig.clock.now_s += 1.0
        snapshot = snapshots.publish()
        counts.clear()
        shown = await views.next_view()
        joins = counts["views"]
        return joins, shown.connectors == views.compose(snapshot).connectors

    assert await joined_again() == (len(CONNECTORS), True)
    assert await joined_again() == (0, True)
    snapshots.set(CHARGING[0], session_energy_wh=1234.5, measured_current_a=(9.0, 9.1, 9.2))
    assert await joined_again() == (1, True)
    snapshots.set(CONNECTORS[1], availability=Availability.FAULTED, fault_text="RCD tripped")
    assert await joined_again() == (1, True)
    await manager.on_charger_status(CHARGING[1], status(CpState.A))  # its session ends
    assert await joined_again() == (1, True)
    rig.csms.answers["LATE"] = AuthEntry("LATE", AuthStatus.ACCEPTED)
    assert (await manager.on_token(Token("LATE"), CONNECTORS[3])).accepted  # waits for an EV
    assert await joined_again() == (1, True)
    rig.clock.now_s += 61.0  # the wait ran out (60 s), no tick has ended it yet
    assert await joined_again() == (1, True)
    await manager.tick()
    assert await joined_again() == (1, True)
    await pricing.assign(SITE, standard("0.55"), "csms")
    assert await joined_again() == (len(CONNECTORS), True)
    assert await joined_again() == (0, True)
