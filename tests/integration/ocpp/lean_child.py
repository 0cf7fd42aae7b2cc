"""A fresh process that imports the daemon, runs the OCPP uplink for one 1.6 identity against
the bench CSMS (``edge-controller csms``, a process of its own, as the CSMS is no part of the
daemon) through routine traffic (boot, statuses, a session's start, meter values and stop, a
CSMS request) until its routine schema checks are built, and prints what it then holds: the
top-level packages loaded, the modules loaded and the OCPP versions with schemas read
(``test_lean_uplink``)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# The daemon's imports, as `run` makes them, and those of the composition it runs.
import edge_controller.app.daemon
import edge_controller.app.site  # noqa: F401
from edge_controller.domain.snapshot import Availability
from edge_controller.uplink import schemas
from edge_controller.uplink.dialect import negotiated
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.outbox_events import ended, sampled, started
from tests.ports import free_port


async def csms_get(port: int, path: str) -> dict[str, Any]:
    """The CSMS's JSON answer to ``path`` on its HTTP interface."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
    answer = await reader.read()
    writer.close()
    found: dict[str, Any] = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return found


async def csms_calls(port: int) -> int:
    """The CALLs the CSMS took in (its ``/stats``), 0 while it does not answer yet."""
    try:
        stats = await csms_get(port, "/stats")
    except OSError:
        return 0
    calls: int = stats["calls"]
    return calls


async def main(state_dir: Path) -> None:
    # Each message waits for its compiled checks as long as it takes on a loaded machine: only
    # a check not built by then would import jsonschema.
    schemas.schemas_for(negotiated("ocpp1.6")).wait_s = 120.0
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    port = free_port()
    command = [sys.executable, "-m", "edge_controller", "csms", "--port", str(port),
               "--versions", "1.6"]  # fmt: skip
    devnull = asyncio.subprocess.DEVNULL
    csms = await asyncio.create_subprocess_exec(*command, stdout=devnull, stderr=devnull)
    try:
        async with open_outbox(state_dir / "db.sqlite") as outbox:
            # A session recorded: its start, a meter value and its stop go after the boot.
            for event in (started(1, "c1:1"), sampled(1, 1500, "c1:1"), ended(1, 2000)):
                await outbox.append("site1", event)
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, site, outbox, state_dir, {"c1": 1}) as uplink:
                await wait_for(lambda: uplink.online, 60)
                # BootNotification and a StatusNotification at least: requests made and sent.
                while await csms_calls(port) < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                # The session's messages answered and taken in.
                while await outbox.backlog("site1") > 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                asked = json.dumps({"key": ["HeartbeatInterval"]})
                query = urlencode(
                    {"identity": "site1", "action": "GetConfiguration", "payload": asked}
                )
                answer = await csms_get(port, f"/send?{query}")
                assert answer["configurationKey"][0]["key"] == "HeartbeatInterval", answer
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
                "routine_checks_built": sum(
                    (action, side) in schemas._SHARED["1.6"]._checks
                    for action in schemas.ROUTINE["1.6"]
                    for side in ("request", "response")
                ),
                "modules": sorted(sys.modules),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
