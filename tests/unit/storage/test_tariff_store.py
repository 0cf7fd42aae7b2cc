"""Tariffs with versions, newest wins between the config and later sources, every change
logged with its source, and a session's tariff and cost kept with its stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_controller.storage.database import Database
from edge_controller.storage.sessions_store import (
    PricedCost,
    PricingInput,
    SessionStart,
    SessionStore,
    TariffRef,
)
from edge_controller.storage.tariff_store import SITE, TariffStore


def tariff(tariff_id: str, per_kwh: str) -> dict[str, Any]:
    return {"id": tariff_id, "currency": "EUR", "energy": {"prices": [{"price_per_kwh": per_kwh}]}}


async def test_same_prices_keep_their_version_and_new_prices_are_the_next(db: Database) -> None:
    store = TariffStore(db)
    first = await store.apply_config({SITE: tariff("std", "0.49")}, at_s=10)
    again = await store.apply_config({SITE: tariff("std", "0.49")}, at_s=20)
    changed = await store.apply_config({SITE: tariff("std", "0.52")}, at_s=30)
    assert [(c.change, c.version, c.source) for c in first] == [
        ("new_version", 1, "config"),
        ("assigned", 1, "config"),
    ]
    assert again == []  # nothing changed: nothing logged
    assert [(c.change, c.version) for c in changed] == [("new_version", 2), ("assigned", 2)]
    assigned = (await store.assignments())[SITE]
    assert (assigned.tariff_id, assigned.version, assigned.source) == ("std", 2, "config")
    old = await store.tariff("std", 1)
    assert old is not None and old.body == tariff("std", "0.49")  # kept for its sessions
    assert len(await store.changes()) == 4


async def test_a_later_source_wins_until_the_config_itself_changes(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    db = await Database.open(path)
    store = TariffStore(db)
    await store.apply_config({SITE: tariff("std", "0.49")}, at_s=10)
    await store.assign(SITE, tariff("csms-7", "0.45"), "ocpp:SetDefaultTariff", at_s=20)
    await db.close()
    db = await Database.open(path)  # a restart reads the same config again
    store = TariffStore(db)
    assert await store.apply_config({SITE: tariff("std", "0.49")}, at_s=30) == []
    kept = (await store.assignments())[SITE]
    assert (kept.tariff_id, kept.source) == ("csms-7", "ocpp:SetDefaultTariff")
    changes = await store.apply_config({SITE: tariff("std", "0.55")}, at_s=40)
    assert [(c.change, c.tariff_id, c.version) for c in changes] == [
        ("new_version", "std", 2),
        ("assigned", "std", 2),
    ]
    assert (await store.assignments())[SITE].source == "config"
    logged = [(c.at_s, c.scope, c.tariff_id, c.source, c.change) for c in await store.changes()]
    assert (20, SITE, "csms-7", "ocpp:SetDefaultTariff", "assigned") in logged
    await db.close()


async def test_an_override_removed_from_the_config_is_cleared(db: Database) -> None:
    store = TariffStore(db)
    await store.apply_config({SITE: tariff("std", "0.49"), "wb1:2": tariff("fast", "0.59")}, 10)
    changes = await store.apply_config({SITE: tariff("std", "0.49")}, at_s=20)
    assert [(c.change, c.scope, c.tariff_id) for c in changes] == [("cleared", "wb1:2", "fast")]
    assert set(await store.assignments()) == {SITE}


async def test_stop_prices_once_in_its_own_transaction(db: Database) -> None:
    store, sessions = TariffStore(db), SessionStore(db)
    await store.apply_config({SITE: tariff("std", "0.50")}, at_s=1)
    ref = TariffRef("std", 1, "config")
    record = await sessions.start(SessionStart("wb1:1", "TAG", 100.0, 1000, tariff=ref))
    await sessions.sample(record.local_id, 160.0, 3000)
    seen: list[PricingInput] = []

    def price(data: PricingInput) -> PricedCost:
        seen.append(data)
        wh = data.readings[-1].energy_wh - data.readings[0].energy_wh
        return PricedCost("EUR", wh // 20, wh // 20, {"energy_wh": wh})  # 0.50 EUR/kWh

    closed, _ = await sessions.stop(record.local_id, 200.0, 5000, "Local", price=price)
    assert closed.tariff == ref
    assert [r.energy_wh for r in seen[0].readings] == [1000, 3000, 5000]
    assert seen[0].tariff_body == tariff("std", "0.50")
    kept = await sessions.cost(record.local_id)
    assert kept is not None and kept.total_incl_tax_minor == 200  # 4 kWh at 0.50
    assert await sessions.price_unpriced(price, 300.0) == 0  # priced once, never twice
    assert len(seen) == 1


async def test_a_stop_stands_when_pricing_gives_up_and_is_priced_later(db: Database) -> None:
    await TariffStore(db).apply_config({SITE: tariff("std", "0.50")}, at_s=1)
    sessions = SessionStore(db)
    ref = TariffRef("std", 1, "config")
    record = await sessions.start(SessionStart("wb1:1", "TAG", 100.0, 1000, tariff=ref))
    closed, changed = await sessions.stop(record.local_id, 200.0, 2000, "Local",
                                          price=lambda data: None)  # fmt: skip
    assert changed and closed.meter_stop_wh == 2000
    assert await sessions.cost(record.local_id) is None
    priced = await sessions.price_unpriced(lambda d: PricedCost("EUR", 50, 50, {}), 300.0)
    assert priced == 1
    found = await sessions.cost(record.local_id)
    assert found is not None and found.total_excl_tax_minor == 50
