"""OCPP 2.1 tariffs and 2.x costs against the schema-strict CSMS, on the site's real session
side and pricing: a default tariff the CSMS sets (station-wide and per EVSE) prices the next
session, to the cent of ``cost()`` over the session's recorded registers, while the CSMS's clock
runs two hours behind the site's; GetTariffs and ClearTariffs (the config's tariff applies
again); every refusal status; the TariffCostCtrlr variables; and the CSMS's own cost (CostUpdated,
totalCost in the TransactionEvent answer) shown as it sent it. Zero schema rejections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge_controller.app.uplink import CentralPriceSink
from edge_controller.domain.model import Token
from edge_controller.domain.pricing import cost
from edge_controller.domain.pricing.recorded import Reading, recorded_timeline
from edge_controller.domain.sessions.events import ReadingContext
from edge_controller.storage.tariff_store import SITE, TariffStore
from edge_controller.telemetry.payloads import connector_payload
from edge_controller.uplink.authorization import CsmsAuthorization
from edge_controller.uplink.service import OcppUplink
from edge_controller.uplink.v201.render import session_of
from edge_controller.uplink.v201.tariffs import SITE_SCOPE
from tests.integration.ocpp.harness import IDENTITY, settings_for, wait_for
from tests.integration.ocpp.sessions_site import CARD, LiveSite, live_site, uplink_to
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.integration.ocpp.test_v201_device_model import ask, get, item
from tests.unit.domain.pricing.ocpp_tariff import tariff_from_ocpp

pytestmark = pytest.mark.integration
CONFIG_TARIFF = {"id": "site", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": "0.40"}]}}
# What a CSMS sends: 0.29/kWh (0.19 at night), a 0.05/min idle fee after 30 minutes, 19 % VAT.
CSMS_TARIFF: dict[str, Any] = {
    "tariffId": "csms-default",
    "currency": "EUR",
    "description": [{"format": "UTF8", "language": "en", "content": "0.29 EUR/kWh"}],
    "energy": {
        "prices": [
            {"priceKwh": 0.19, "conditions": {"startTimeOfDay": "22:00", "endTimeOfDay": "06:00"}},
            {"priceKwh": 0.29},
        ],
        "taxRates": [{"type": "VAT", "tax": 19}],
    },
    "idleTime": {"prices": [{"priceMinute": 0.05, "conditions": {"minIdleTime": 1800}}]},
}
EVSE2_TARIFF: dict[str, Any] = {
    "tariffId": "bay-2",
    "currency": "EUR",
    "energy": {"prices": [{"priceKwh": 0.59}]},
    "fixedFee": {"prices": [{"priceFixed": 1.0}]},
}


DRIVER = "D1D2D3D4"  # not on the local list: the CSMS is asked
DRIVER_TARIFF: dict[str, Any] = {
    "tariffId": "driver-contract",
    "currency": "EUR",
    "energy": {"prices": [{"priceKwh": 0.25}], "taxRates": [{"type": "VAT", "tax": 19}]},
}


@asynccontextmanager
async def station(
    tmp_path: Path, protocol: str = "ocpp2.1", **peer_options: Any
) -> AsyncIterator[tuple[StrictPeer, LiveSite, OcppUplink]]:
    csms = CsmsAuthorization()
    async with (
        strict_peer(protocols=protocol, **peer_options) as peer,
        live_site(tmp_path, {SITE: CONFIG_TARIFF}, csms=csms) as (site, outbox),
    ):
        assert site.pricing is not None
        sink = CentralPriceSink(site.manager.recorder.store, site.pricing)
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=protocol[4:])
        async with uplink_to(
            settings, site, outbox, tmp_path, prices=sink, authorization=csms
        ) as uplink:
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            yield peer, site, uplink
        assert peer.invalid() == []


async def set_default(peer: StrictPeer, evse_id: int, tariff: dict[str, Any]) -> str:
    result = await ask(peer, "SetDefaultTariff", {"evseId": evse_id, "tariff": tariff})
    return str(result["status"])


async def charge(site: LiveSite, cid: str, energy_wh: float, tag: str = CARD) -> int:
    """A session on ``cid`` that takes ``energy_wh``; its local id once it is closed."""
    await site.plug(cid)
    assert (await site.manager.on_token(Token(tag), cid)).accepted
    (record,) = await site.manager.recorder.store.open_sessions()
    for _ in range(4):
        site.clock.now_s += 600
        site.meters[cid].energy_wh += energy_wh / 4
        await site.manager.tick()
    await site.unplug(cid)
    return record.local_id


async def expected_cost(site: LiveSite, local_id: int, wire: dict[str, Any]) -> Any:
    """``cost()`` of the CSMS's tariff (read by the tests' own mapping) over the registers the
    database holds for the session."""
    store = site.manager.recorder.store
    record = await store.get(local_id)
    assert record is not None and record.stop_at_s is not None and site.pricing is not None
    values = await store.meter_values(local_id)
    line = recorded_timeline(
        record.start_at_s,
        record.stop_at_s,
        [Reading(v.at_s, v.energy_wh, v.power_w) for v in values],
    )
    return cost(tariff_from_ocpp(wire), line, ZoneInfo("Europe/Berlin"))


def ended(peer: StrictPeer) -> dict[int | None, dict[str, Any]]:
    """The Ended TransactionEvents the CSMS got, by the site's session id."""
    return {
        session_of(c["params"]["transactionInfo"]["transactionId"]): c["params"]
        for c in peer.calls("TransactionEvent")
        if c["params"]["eventType"] == "Ended"
    }


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


async def test_a_default_tariff_from_the_csms_prices_the_next_session_to_the_cent(
    tmp_path: Path,
) -> None:
    assert SITE_SCOPE == SITE
    async with station(tmp_path, clock_offset_s=-7200) as (peer, site, uplink):
        assert site.pricing is not None
        await wait_for(lambda: abs(uplink.links[IDENTITY].clock.offset_s + 7200) < 60)
        assert await set_default(peer, 0, CSMS_TARIFF) == "Accepted"
        assert await set_default(peer, 2, EVSE2_TARIFF) == "Accepted"
        shown = site.shown("c1:1").price
        assert shown is not None and shown["tariff_id"] == "csms-default"
        assert site.shown("c1:2").price["tariff_id"] == "bay-2"  # type: ignore[index]

        first = await charge(site, "c1:1", 12_345)
        second = await charge(site, "c1:2", 10_000)
        store = site.manager.recorder.store
        for local_id, wire in ((first, CSMS_TARIFF), (second, EVSE2_TARIFF)):
            record = await store.get(local_id)
            assert record is not None and record.tariff is not None
            assert (record.tariff.tariff_id, record.tariff.source) == (
                wire["tariffId"], "ocpp21:SetDefaultTariff"
            )  # fmt: skip
            kept, expected = await store.cost(local_id), await expected_cost(site, local_id, wire)
            assert kept is not None and record.energy_wh == int(expected.usage.energy_wh)
            assert kept.total_incl_tax_minor == expected.total_incl_tax.minor
            assert kept.total_excl_tax_minor == expected.total_excl_tax.minor
        # 2.1 local cost calculation: the Ended event carries the same cost, to the cent.
        await wait_for(lambda: len(ended(peer)) == 2)
        for local_id, wire in ((first, CSMS_TARIFF), (second, EVSE2_TARIFF)):
            details = ended(peer)[local_id]["costDetails"]
            expected = await expected_cost(site, local_id, wire)
            total = details["totalCost"]
            assert total["currency"] == "EUR" and total["typeOfCost"] == "NormalCost"
            assert _dec(total["total"]["inclTax"]) == expected.total_incl_tax.amount
            assert _dec(total["total"]["exclTax"]) == expected.total_excl_tax.amount
            assert _dec(details["totalUsage"]["energy"]) == expected.usage.energy_wh
            volumes = [d["volume"] for p in details["chargingPeriods"] for d in p["dimensions"]
                       if d["type"] == "Energy"]  # fmt: skip
            assert sum(_dec(v) for v in volumes) == expected.usage.energy_wh
        # 10 kWh at 0.59 and a 1.00 fee: the figure by hand, too.
        assert (await store.cost(second)).total_incl_tax_minor == 690  # type: ignore[union-attr]

        changes = await TariffStore(site.db).changes()  # type: ignore[arg-type]
        assert [(c.scope, c.tariff_id, c.source, c.change) for c in changes[-4:]] == [
            ("*", "csms-default", "ocpp21:SetDefaultTariff", "new_version"),
            ("*", "csms-default", "ocpp21:SetDefaultTariff", "assigned"),
            ("c1:2", "bay-2", "ocpp21:SetDefaultTariff", "new_version"),
            ("c1:2", "bay-2", "ocpp21:SetDefaultTariff", "assigned"),
        ]
        assert await get(
            peer,
            item("TariffCostCtrlr", "Enabled", instance="Tariff"),
            item("TariffCostCtrlr", "Enabled", instance="Cost"),
            item("TariffCostCtrlr", "Currency"),
        ) == [("Accepted", "true"), ("Accepted", "true"), ("Accepted", "EUR")]


async def test_get_and_clear_tariffs_and_every_refusal(tmp_path: Path) -> None:
    async with station(tmp_path) as (peer, site, _):
        assert await ask(peer, "GetTariffs", {"evseId": 0}) == {
            "status": "Accepted",
            "tariffAssignments": [{"tariffId": "site", "tariffKind": "DefaultTariff",
                                   "evseIds": [0]}],
        }  # fmt: skip
        assert await set_default(peer, 9, EVSE2_TARIFF) == "Rejected"  # no such EVSE
        assert await set_default(peer, 0, {**EVSE2_TARIFF, "tariffId": "site"}) == (
            "DuplicateTariffId"  # the installer's tariff id
        )
        assert await set_default(peer, 0, {**EVSE2_TARIFF, "currency": "XXX"}) == "Rejected"
        many = {"prices": [{"priceKwh": 0.3, "conditions": {"minPower": n}} for n in range(60)]}
        assert await set_default(peer, 0, {**EVSE2_TARIFF, "energy": many}) == "TooManyElements"
        assert await set_default(peer, 0, CSMS_TARIFF) == "Accepted"
        assert await set_default(peer, 2, EVSE2_TARIFF) == "Accepted"
        assert await set_default(peer, 2, EVSE2_TARIFF) == "Accepted"  # the same again
        other_prices = {**CSMS_TARIFF, "energy": {"prices": [{"priceKwh": 0.99}]}}
        assert await set_default(peer, 1, other_prices) == "DuplicateTariffId"  # an id, one content
        assert (await ask(peer, "GetTariffs", {"evseId": 2}))["tariffAssignments"] == [
            {"tariffId": "bay-2", "tariffKind": "DefaultTariff", "evseIds": [2]}
        ]
        assert (await ask(peer, "GetTariffs", {"evseId": 7}))["status"] == "Rejected"

        cleared = await ask(peer, "ClearTariffs", {"tariffIds": ["bay-2", "nope"]})
        assert [(r.get("tariffId"), r["status"]) for r in cleared["clearTariffsResult"]] == [
            ("bay-2", "Accepted"), ("nope", "NoTariff")
        ]  # fmt: skip
        assert site.shown("c1:2").price["tariff_id"] == "csms-default"  # type: ignore[index]
        cleared = await ask(peer, "ClearTariffs", {})
        assert [(r.get("tariffId"), r["status"]) for r in cleared["clearTariffsResult"]] == [
            ("csms-default", "Accepted")
        ]
        # The config's tariff is the site's again, and it is the installer's to change.
        assert site.shown("c1:1").price["tariff_id"] == "site"  # type: ignore[index]
        cleared = await ask(peer, "ClearTariffs", {"tariffIds": ["site"], "evseId": 0})
        assert cleared["clearTariffsResult"][0]["status"] == "Rejected"
        await site.pricing.reload()  # type: ignore[union-attr]
        assert site.shown("c1:1").price["tariff_id"] == "site"  # type: ignore[index]
        changes = await TariffStore(site.db).changes()  # type: ignore[arg-type]
        assert [(c.tariff_id, c.source, c.change) for c in changes[-2:]] == [
            ("csms-default", "ocpp21:ClearTariffs", "cleared"),
            ("site", "config", "assigned"),
        ]


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
async def test_the_csms_running_and_final_cost_are_shown_as_sent(
    tmp_path: Path, protocol: str
) -> None:
    async with station(tmp_path, protocol, total_cost=4.56) as (peer, site, uplink):
        await site.plug("c1:1")
        assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted
        await wait_for(lambda: len(peer.calls("TransactionEvent")) >= 1)
        started = peer.calls("TransactionEvent")[0]["params"]
        tx = started["transactionInfo"]["transactionId"]
        assert await ask(peer, "CostUpdated", {"totalCost": 1.23, "transactionId": tx}) == {}
        shown = site.shown("c1:1").csms_cost
        assert shown is not None and (shown["cost"], shown["final"]) == ("1.23", False)
        unknown = {"totalCost": 9.99, "transactionId": "999-1"}
        assert await ask(peer, "CostUpdated", unknown) == {}  # answered, nothing shown
        assert site.shown("c1:1").csms_cost["cost"] == "1.23"  # type: ignore[index]
        await site.unplug("c1:1")
        sender = uplink.sessions[IDENTITY].sender
        await wait_for(lambda: any(
            c["params"]["eventType"] == "Ended" for c in peer.calls("TransactionEvent")
        ))  # fmt: skip
        await wait_for(lambda: (site.shown("c1:1").csms_cost or {}).get("final") is True)
        shown = site.shown("c1:1").csms_cost
        assert shown is not None and Decimal(shown["cost"]) == Decimal("4.56")
        # The site's own cost goes with the end on 2.1 only (local cost calculation).
        (end,) = ended(peer).values()
        assert ("costDetails" in end) is (protocol == "ocpp2.1")
        assert sender.sent >= 2


async def test_a_driver_tariff_in_the_authorize_answer_prices_that_drivers_session(
    tmp_path: Path,
) -> None:
    async with station(tmp_path, authorize_tariff=DRIVER_TARIFF) as (peer, site, _):
        driver_session = await charge(site, "c1:1", 10_000, tag=DRIVER)
        assert len(peer.calls("Authorize")) == 1
        other_session = await charge(site, "c1:2", 10_000)  # the local list's card: no Authorize
        store = site.manager.recorder.store
        record = await store.get(driver_session)
        assert record is not None and record.tariff is not None
        assert (record.tariff.tariff_id, record.tariff.source) == (
            "driver-contract", "ocpp21:Authorize"
        )  # fmt: skip
        kept = await store.cost(driver_session)
        expected = await expected_cost(site, driver_session, DRIVER_TARIFF)
        assert kept is not None and kept.total_incl_tax_minor == expected.total_incl_tax.minor
        assert kept.total_incl_tax_minor == 298  # 10 kWh x 0.25 x 1.19 = 2.975, half up
        other = await store.get(other_session)
        assert other is not None and other.tariff is not None
        assert other.tariff.tariff_id == "site"  # another driver: the site's tariff
        other_cost = await store.cost(other_session)
        assert other_cost is not None and other_cost.total_incl_tax_minor == 400
        # The driver's tariff priced one session: their next one asks the CSMS again.
        assert site.pricing is not None and site.pricing.tariff_for("c1:1", DRIVER) is not None
        assert site.pricing.tariff_for("c1:1", DRIVER)[0].tariff_id == "site"  # type: ignore[index]


PEAK: dict[str, Any] = {
    "tariffId": "peak",
    "currency": "EUR",
    "energy": {"prices": [{"priceKwh": 0.60}], "taxRates": [{"type": "VAT", "tax": 19}]},
}


async def steps(site: LiveSite, cid: str, count: int, wh_each: float) -> None:
    for _ in range(count):
        site.clock.now_s += 600
        site.meters[cid].energy_wh += wh_each
        await site.manager.tick()


async def change(peer: StrictPeer, tx_id: str, tariff: dict[str, Any]) -> dict[str, Any]:
    return await ask(peer, "ChangeTransactionTariff", {"transactionId": tx_id, "tariff": tariff})


async def test_a_tariff_changed_mid_session_prices_each_part_by_its_tariff(
    tmp_path: Path,
) -> None:
    """5 kWh at the site's 0.40 (no tax), then ChangeTransactionTariff to 0.60 + 19 % VAT and
    5 kWh more: 2.00 + 3.00 = 5.00 excl. tax, 2.00 + 3.57 = 5.57 incl.; the session keeps both
    tariffs; the CSMS hears TariffChanged at once and gets both tariffs' periods at the end."""
    async with station(tmp_path) as (peer, site, _):
        store = site.manager.recorder.store
        await site.plug("c1:1")
        assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted
        (record,) = await store.open_sessions()
        await wait_for(lambda: len(peer.calls("TransactionEvent")) >= 1)
        tx_id = peer.calls("TransactionEvent")[0]["params"]["transactionInfo"]["transactionId"]
        await steps(site, "c1:1", 2, 2500)
        changed_at_s = site.clock.now_s
        assert await change(peer, tx_id, PEAK) == {"status": "Accepted"}
        await wait_for(lambda: any(
            c["params"]["triggerReason"] == "TariffChanged" for c in peer.calls("TransactionEvent")
        ))  # fmt: skip
        events = [c["params"] for c in peer.calls("TransactionEvent")]
        assert events[0]["transactionInfo"]["tariffId"] == "site"
        told = next(e for e in events if e["triggerReason"] == "TariffChanged")
        assert told["transactionInfo"]["tariffId"] == "peak"
        await steps(site, "c1:1", 2, 2500)
        await site.unplug("c1:1")
        await wait_for(lambda: record.local_id in ended(peer))
        kept = await store.cost(record.local_id)
        closed = await store.get(record.local_id)
        assert closed is not None and closed.tariff is not None
        assert (closed.tariff.tariff_id, closed.tariff.version) == ("site", 1)
        assert site.db is not None
        rows = await site.db.read(lambda conn: conn.execute(
            "SELECT at_s, tariff_id, version, source FROM session_tariff_changes"
        ).fetchall())  # fmt: skip
        # Refused afterwards: the transaction has ended.
        assert (await change(peer, tx_id, PEAK))["status"] == "TxNotFound"
    assert [tuple(r) for r in rows] == [(changed_at_s, "peak", 1, "ocpp21:ChangeTransactionTariff")]
    assert kept is not None and (kept.total_excl_tax_minor, kept.total_incl_tax_minor) == (500, 557)
    periods = kept.breakdown["periods"]
    assert [(p["tariff_id"], _dec(p["energy_wh"]), p["incl_tax"]) for p in periods] == [
        ("site", 5000, "2.00"), ("peak", 5000, "3.57")
    ]  # fmt: skip
    end = ended(peer)[record.local_id]
    assert end["transactionInfo"]["tariffId"] == "peak"  # the tariff in use (I08.FR.13)
    details = end["costDetails"]
    assert _dec(details["totalCost"]["total"]["inclTax"]) == Decimal("5.57")
    assert [p["tariffId"] for p in details["chargingPeriods"]] == ["site", "peak"]
    assert _dec(details["totalUsage"]["energy"]) == 10_000


async def test_a_tariff_change_is_refused_where_the_spec_says(tmp_path: Path) -> None:
    chf = PEAK | {"tariffId": "chf", "currency": "CHF"}
    many = PEAK | {"tariffId": "many", "energy": {"prices": [{"priceKwh": 0.3}] * 51}}
    async with station(tmp_path) as (peer, site, _):
        await site.plug("c1:1")
        assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted
        await wait_for(lambda: len(peer.calls("TransactionEvent")) >= 1)
        tx_id = peer.calls("TransactionEvent")[0]["params"]["transactionInfo"]["transactionId"]
        assert (await change(peer, tx_id, chf))["status"] == "NoCurrencyChange"
        assert (await change(peer, tx_id, many))["status"] == "TooManyElements"
        assert (await change(peer, "999-1", PEAK))["status"] == "TxNotFound"
        assert (await change(peer, "not-ours", PEAK))["status"] == "TxNotFound"
        other = PEAK | {"energy": {"prices": [{"priceKwh": 0.9}]}}
        assert await change(peer, tx_id, PEAK) == {"status": "Accepted"}
        # The id now names 0.60: other prices under it are refused, as SetDefaultTariff does.
        assert (await change(peer, tx_id, other))["status"] == "Rejected"
        await steps(site, "c1:1", 1, 1000)
        await site.unplug("c1:1")
        (closed,) = await site.manager.recorder.store.recent()
        kept = await site.manager.recorder.store.cost(closed.local_id)
    assert kept is not None and kept.total_incl_tax_minor == 71  # 1 kWh x 0.60 x 1.19 = 0.714


async def test_updated_events_carry_the_running_cost_shown_on_mqtt(tmp_path: Path) -> None:
    """2.1 local cost calculation while charging: each periodic Updated TransactionEvent
    carries costDetails of the cost up to its reading, the same figures the connector's MQTT
    state shows (``running_cost``), and the Ended event the final cost. 2.5 kWh a sample at
    the site's 0.40: 1.00, 2.00, 3.00."""
    async with station(tmp_path) as (peer, site, _):
        assert site.pricing is not None
        await site.plug("c1:1")
        assert (await site.manager.on_token(Token(CARD), "c1:1")).accepted
        (record,) = await site.manager.recorder.store.open_sessions()
        shown = []
        recorder = site.manager.recorder
        for count in (1, 2, 3):
            # A periodic sample, as the session side takes one each MeterValueSampleInterval
            # (this harness leaves sampling to the test).
            site.clock.now_s += 600
            site.meters["c1:1"].energy_wh += 2500
            assert await recorder.sample(record, site.clock.now_s, ReadingContext.PERIODIC)
            await site.pricing.refresh()  # as the pricing service does after a reading
            shown.append(connector_payload(site.shown("c1:1"))["running_cost"])
            await wait_for(lambda n=count: len(updated(peer)) >= n)  # type: ignore[misc]
        await site.unplug("c1:1")
        await wait_for(lambda: record.local_id in ended(peer))
        kept = await site.manager.recorder.store.cost(record.local_id)
    sent = [u["costDetails"] for u in updated(peer)]
    assert [_dec(d["totalCost"]["total"]["inclTax"]) for d in sent] == [
        Decimal("1.00"), Decimal("2.00"), Decimal("3.00")
    ]  # fmt: skip
    for details, mqtt in zip(sent, shown, strict=True):
        assert _dec(details["totalCost"]["total"]["inclTax"]) == Decimal(mqtt["incl_tax"])
        assert _dec(details["totalCost"]["total"]["exclTax"]) == Decimal(mqtt["excl_tax"])
        assert _dec(details["totalUsage"]["energy"]) == Decimal(mqtt["energy_wh"])
    final = ended(peer)[record.local_id]["costDetails"]["totalCost"]["total"]
    assert kept is not None and _dec(final["inclTax"]) * 100 == kept.total_incl_tax_minor == 300


def updated(peer: StrictPeer) -> list[dict[str, Any]]:
    return [
        c["params"]
        for c in peer.calls("TransactionEvent")
        if c["params"]["eventType"] == "Updated"
        and c["params"]["triggerReason"] == "MeterValuePeriodic"
    ]
