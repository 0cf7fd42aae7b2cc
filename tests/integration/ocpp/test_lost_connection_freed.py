"""A connection the CSMS's going away ended is freed before the next one is made: its objects
hold each other in cycles (session, endpoint, sender, task groups, the exception that ended it
and its traceback), which only a run of the collector frees, and at a thousand identities the
automatic runs left them all in memory through the outage while the reconnects took new memory
beside them. The automatic runs are kept from happening here (a threshold no test reaches), as
for connections old enough to be in the oldest generation; the CSMS stays away, so nothing
reconnects meanwhile."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_controller.sim.csms import BenchCsms
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.integration
CHARGERS = {"c1": 1, "c2": 1}
NO_AUTOMATIC_RUN = 10**9


@pytest.fixture
def automatic_collection_off() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(NO_AUTOMATIC_RUN)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("automatic_collection_off")
async def test_connections_lost_with_the_csms_are_freed_while_it_is_away(
    tmp_path: Path,
) -> None:
    csms = BenchCsms()
    site = FakeSite()
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        server = await csms.start("127.0.0.1", 0)
        port = next(iter(server.sockets)).getsockname()[1]
        # One attempt a minute at most: none succeeds while the test looks (nothing listens).
        settings = settings_for(
            f"ws://127.0.0.1:{port}", topology="per_charger", reconnect_min_s=60,
            reconnect_max_s=120,
        )  # fmt: skip
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: all(link.accepted for link in uplink.links.values()))
            sessions = [weakref.ref(s) for s in uplink.sessions.values()]
            assert len(sessions) == len(CHARGERS)
            server.close()
            await server.wait_closed()
            await wait_for(lambda: not uplink.sessions)
            await wait_for(lambda: all(s() is None for s in sessions), timeout_s=20.0)
            assert not any(link.accepted for link in uplink.links.values())
