"""A fresh process that imports the daemon, runs the OCPP uplink for one 1.6 identity against
the bench CSMS (``edge-controller csms``, a process of its own, as the CSMS is no part of the
daemon) until its routine schema checks are built, and prints what it then holds: the
top-level packages loaded, the modules loaded and the OCPP versions with schemas read
(``test_lean_uplink``)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

# The daemon's imports, as `run` makes them, and those of the composition it runs.
import edge_controller.app.daemon
import edge_controller.app.site  # noqa: F401
from edge_controller.domain.snapshot import Availability
from edge_controller.uplink import schemas
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.ports import free_port


async def csms_calls(port: int) -> int:
    """The CALLs the CSMS took in (its ``/stats``), 0 while it does not answer yet."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0
    writer.write(b"GET /stats HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    answer = await reader.read()
    writer.close()
    calls: int = json.loads(answer.split(b"\r\n\r\n", 1)[1])["calls"]
    return calls


async def main(state_dir: Path) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    port = free_port()
    command = [sys.executable, "-m", "edge_controller", "csms", "--port", str(port),
               "--versions", "1.6"]  # fmt: skip
    devnull = asyncio.subprocess.DEVNULL
    csms = await asyncio.create_subprocess_exec(*command, stdout=devnull, stderr=devnull)
    try:
        async with open_outbox(state_dir / "db.sqlite") as outbox:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, site, outbox, state_dir, {"c1": 1}) as uplink:
                await wait_for(lambda: uplink.online, 60)
                # BootNotification and a StatusNotification at least: requests made and sent.
                while await csms_calls(port) < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                shared = schemas._SHARED["1.6"]
                for action in schemas.ROUTINE["1.6"]:
                    for side in ("request", "response"):
                        building = shared.building(action, side)
                        assert building is not None, (action, side)
                        await asyncio.wrap_future(building)
    finally:
        csms.kill()
        await csms.wait()
    print(
        json.dumps(
            {
                "packages": sorted({name.split(".")[0] for name in sys.modules}),
                "schema_versions": sorted(schemas._SHARED),
                "checks_built": len(schemas._SHARED["1.6"]._checks),
                "modules": sorted(sys.modules),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
