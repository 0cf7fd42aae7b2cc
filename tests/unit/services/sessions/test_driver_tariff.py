"""A driver's own tariff (2.1 AuthorizeResponse.tariff) is stored with the authorisation: a
restart between the Authorize and the start still prices their session with it, and it prices
one session only, also across a restart after that session started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_controller.domain.model import CpState
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.sessions_store import TariffRef
from edge_controller.storage.tariff_store import SITE, TariffStore
from tests.unit.services.sessions.fixtures import Clock, CounterMeter, Rig, make_rig, status
from tests.unit.services.sessions.test_pricing import BERLIN, VAT, minutes, standard, start

DRIVER = "DRIVER01"
SOURCE = "ocpp21:Authorize"


def contract() -> dict[str, Any]:
    return {
        "id": "driver-contract",
        "currency": "EUR",
        "energy": {"prices": [{"price_per_kwh": "0.25"}], "tax_rates": VAT},
    }


async def restarted(path: Path, clock: Clock) -> tuple[Rig, SessionPricing]:
    """The daemon again on the same database: pricing built as at start-up."""
    meters = {"cp1:1": CounterMeter(), "cp1:2": CounterMeter()}
    rig = await make_rig(path, clock=clock, meters=meters)
    pricing = SessionPricing(TariffStore(rig.db), BERLIN, clock=rig.clock)
    await pricing.apply_config({SITE: standard()})
    rig.manager.recorder.pricing = pricing
    return rig, pricing


async def test_a_restart_between_authorize_and_start_keeps_the_drivers_tariff(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "edge.db", Clock()
    rig, pricing = await restarted(path, clock)
    assert await pricing.driver_tariff(DRIVER.lower(), contract(), SOURCE) is None
    await rig.db.close()  # the daemon ends before the driver plugs in

    rig, pricing = await restarted(path, clock)
    found = pricing.tariff_for("cp1:1", DRIVER)
    assert found is not None and found[1] == TariffRef("driver-contract", 1, SOURCE)
    await start(rig, "cp1:1", DRIVER)
    await minutes(rig, 10, wh_each=1000)  # 10 kWh
    await rig.manager.on_charger_status("cp1:1", status(CpState.A))
    (record,) = await rig.store.recent()
    assert record.tariff == TariffRef("driver-contract", 1, SOURCE)
    assert (record.meter_stop_wh or 0) - record.meter_start_wh == 10_000
    kept = await rig.store.cost(record.local_id)
    assert kept is not None and kept.total_excl_tax_minor == 250  # 10 kWh at 0.25
    assert kept.total_incl_tax_minor == 298  # 2.975 incl. 19 % VAT, half up
    await rig.db.close()


async def test_the_drivers_tariff_prices_one_session_also_across_a_restart(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "edge.db", Clock()
    rig, pricing = await restarted(path, clock)
    assert await pricing.driver_tariff(DRIVER, contract(), SOURCE) is None
    clock.now_s += 5
    await start(rig, "cp1:1", DRIVER)
    await minutes(rig, 10, wh_each=1000)  # 10 kWh
    await rig.db.close()  # killed while charging: the session is still open

    rig, pricing = await restarted(path, clock)
    found = pricing.tariff_for("cp1:2", DRIVER)
    assert found is not None and found[0].tariff_id == "std"  # used: their next asks again
    await rig.db.close()


async def test_an_answer_without_a_tariff_takes_the_kept_one_away(tmp_path: Path) -> None:
    path, clock = tmp_path / "edge.db", Clock()
    rig, pricing = await restarted(path, clock)
    assert await pricing.driver_tariff(DRIVER, contract(), SOURCE) is None
    assert await pricing.driver_tariff(DRIVER, None, SOURCE) is None
    await rig.db.close()
    rig, pricing = await restarted(path, clock)
    found = pricing.tariff_for("cp1:1", DRIVER)
    assert found is not None and found[0].tariff_id == "std"
    await rig.db.close()
