"""Session-rule configuration keys through a real CSMS: a change is applied by the site, shared
by every identity of the site, and applied again after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.domain.commands import ChangeSessionRules
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
CHARGERS = {"c1": 1, "c2": 2}


def rules(site: FakeSite) -> list[ChangeSessionRules]:
    return [c for c in site.commands if isinstance(c, ChangeSessionRules)]


async def test_a_changed_session_key_is_applied_shared_and_kept(tmp_path: Path) -> None:
    csms, site = BenchCsms(), FakeSite()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}", topology="per_charger")
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.online and {"c1", "c2"} <= set(csms.connected))
            # At start the stored rules are applied: here the config's (nothing changed yet).
            assert rules(site)[0].offline_authorize_from_list is True
            key = {"key": "LocalAuthorizeOffline", "value": "false"}
            assert await csms.send("c1", "ChangeConfiguration", key) == {"status": "Accepted"}
            assert rules(site)[-1] == ChangeSessionRules(offline_authorize_from_list=False)
            timeout = {"key": "ConnectionTimeOut", "value": "45"}
            assert await csms.send("c2", "ChangeConfiguration", timeout) == {"status": "Accepted"}
            assert rules(site)[-1] == ChangeSessionRules(plug_timeout_s=45.0)
            wrong = {"key": "ConnectionTimeOut", "value": "forever"}
            assert await csms.send("c2", "ChangeConfiguration", wrong) == {"status": "Rejected"}
            # The other identity reports the change made through the first one.
            got = await csms.send("c2", "GetConfiguration", {"key": ["LocalAuthorizeOffline"]})
            assert got["configurationKey"][0]["value"] == "false"
            wiring = {"key": ["ConnectorPhaseRotation"]}
            rotation = await csms.send("c2", "GetConfiguration", wiring)
            assert rotation["configurationKey"][0]["readonly"] is True
        restarted = FakeSite()
        async with running_uplink(settings, restarted, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: bool(rules(restarted)))
    first = rules(restarted)[0]
    assert first.offline_authorize_from_list is False and first.plug_timeout_s == 45.0
    assert len(rules(site)) == 3  # start, and one per accepted change; the rejected one: none
