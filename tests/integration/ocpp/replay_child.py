"""A daemon stand-in for the crash tests: drains an outbox database to a CSMS until killed.

``python -m tests.integration.ocpp.replay_child DB_PATH CSMS_URL STATE_DIR``
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from edge_controller.log import configure
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.uplink.ports import SitePorts
from edge_controller.uplink.service import OcppUplink
from edge_controller.uplink.topology import Topology
from tests.integration.ocpp.harness import IDENTITY, FakeSite, settings_for


async def drain(db_path: Path, url: str, state_dir: Path) -> None:
    db = await Database.open(db_path)
    try:
        site = FakeSite()
        settings = settings_for(url)
        uplink = OcppUplink(
            settings,
            Topology(settings.topology, IDENTITY, {"c1": 2}),
            SitePorts(site, site, Outbox(db), transactions=site),
            state_dir=state_dir,
        )
        await uplink.run()
    finally:
        await db.close()


if __name__ == "__main__":
    configure("error", "console", sys.stderr)
    asyncio.run(drain(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))
