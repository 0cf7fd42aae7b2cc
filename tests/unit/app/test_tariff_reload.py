"""SIGHUP applies a changed tariffs section without a restart: the next session is priced by the
new version, the running one keeps its own, and the change is logged with its source."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from edge_controller.app.daemon import Daemon
from edge_controller.app.site import PricingService, config_tariffs
from edge_controller.config.load import load_settings
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage.database import Database
from edge_controller.storage.tariff_store import SITE, TariffStore
from edge_controller.systemd import Notifier

CONFIG = """\
site: {{id: s1, grid_limit_a: 32, time_zone: Europe/Berlin}}
storage: {{state_dir: {state}}}
tariffs:
  default: {{id: std, currency: EUR, energy: {{prices: [{{price_per_kwh: {price}}}]}}}}
"""


async def test_sighup_applies_new_prices_live(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(CONFIG.format(state=tmp_path, price="0.40"), encoding="utf-8")
    settings = load_settings(path)
    db = await Database.open(tmp_path / "edge.db")
    try:
        pricing = SessionPricing(TariffStore(db), ZoneInfo("Europe/Berlin"))
        await pricing.apply_config(config_tariffs(settings))
        daemon = Daemon(settings, path, Notifier(""), [PricingService(pricing)])
        path.write_text(CONFIG.format(state=tmp_path, price="0.45"), encoding="utf-8")
        needs_restart = await daemon.reload()
        assert needs_restart == []  # the tariff is applied, not waiting for a restart
        found = pricing.tariff_for("wb1:1")
        assert found is not None and found[1].version == 2 and found[1].source == "config"
        offer = pricing.ad_hoc("wb1:1")
        assert offer is not None and offer.per_kwh is not None
        assert str(offer.per_kwh.amount) == "0.45"
        changes = await TariffStore(db).changes()
        assert [(c.change, c.version) for c in changes if c.scope == SITE][-2:] == [
            ("new_version", 2),
            ("assigned", 2),
        ]
    finally:
        await db.close()
