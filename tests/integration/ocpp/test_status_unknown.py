"""A connector whose charger has not been read yet is not reported to the CSMS at all (not as
Unavailable): the first StatusNotification about it says what it really is."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.domain.snapshot import Availability
from edge_controller.sim.csms import BenchCsms
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.integration
CHARGERS = {"c1": 2}


async def test_no_status_about_a_connector_before_it_is_known(tmp_path: Path) -> None:
    csms = BenchCsms()
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)  # c1:2 has not been read yet: no view

    def reported(connector: int) -> list[str]:
        return [
            c[2]["status"]
            for c in csms.record.calls
            if c[1] == "StatusNotification" and c[2]["connectorId"] == connector
        ]

    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS):
            await wait_for(lambda: bool(reported(0)) and bool(reported(1)))
            # A later round of the status loop (the one that reports this change) has looked
            # at c1:2 too, and still said nothing about it.
            site.set("c1:1", Availability.CHARGING)
            await wait_for(lambda: reported(1)[-1:] == ["Charging"])
            assert reported(2) == []
            site.set("c1:2", Availability.SUSPENDED_EV)
            await wait_for(lambda: bool(reported(2)))
    assert reported(2) == ["SuspendedEV"]
    assert reported(1) == ["Available", "Charging"]
