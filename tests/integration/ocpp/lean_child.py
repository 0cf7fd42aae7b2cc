"""A fresh process that imports the daemon, runs the OCPP uplink for one 1.6 identity until
its routine schema checks are built, and prints what it then holds: the top-level packages
loaded, our modules loaded and the OCPP versions with schemas read (``test_lean_uplink``)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import edge_controller.app.daemon  # noqa: F401  (the daemon's imports, as `run` makes them)
from edge_controller.domain.snapshot import Availability
from edge_controller.sim.csms import BenchCsms
from edge_controller.uplink import schemas
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)


async def main(state_dir: Path) -> None:
    csms = BenchCsms()
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    async with running_csms(csms) as port, open_outbox(state_dir / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, state_dir, {"c1": 1}) as uplink:
            await wait_for(lambda: uplink.online and "StatusNotification" in csms.actions())
            shared = schemas._SHARED["1.6"]
            for action in schemas.ROUTINE["1.6"]:
                for side in ("request", "response"):
                    building = shared.building(action, side)
                    assert building is not None, (action, side)
                    await asyncio.wrap_future(building)
    print(
        json.dumps(
            {
                "packages": sorted({name.split(".")[0] for name in sys.modules}),
                "schema_versions": sorted(schemas._SHARED),
                "checks_built": len(schemas._SHARED["1.6"]._checks),
                "modules": sorted(
                    name for name in sys.modules if name.startswith("edge_controller")
                ),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
