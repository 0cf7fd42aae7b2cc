"""A fresh process with a 1.6 charge point's RPC endpoint (or the whole uplink) on a raw CSMS,
for ``test_schema_checks``: it runs one scenario from its start and prints, as its last line,
what came of it and whether ``jsonschema`` was imported before and after. Fresh, as a module
once imported stays and a check once built is kept by the process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

# The daemon's imports, as `run` makes them.
import edge_controller.app.daemon
import edge_controller.app.site  # noqa: F401
from edge_controller.domain.snapshot import Availability
from edge_controller.uplink.rpc import CallFailed, Limits, RpcEndpoint
from tests.integration.ocpp.harness import FakeSite, open_outbox, running_uplink, settings_for
from tests.integration.ocpp.raw_csms import raw_csms

BOOT = {"chargePointVendor": "Example", "chargePointModel": "EC-1"}
# Breaks the 1.6 StatusNotification schema: the connector's number as a word.
BAD_STATUS = {"connectorId": "one", "errorCode": "NoError", "status": "Available"}
LIMITS = Limits(call_timeout_s=30.0, max_frame_bytes=65536)
ANSWER_S = 30.0  # a loaded machine: the raw CSMS's wait for an answer to its CALL


def official_loaded() -> bool:
    return "jsonschema" in sys.modules


def check_of(endpoint: RpcEndpoint, action: str, side: str) -> str:
    """Where the compiled check of ``action``'s ``side`` is: built, failed or building."""
    building = endpoint.schemas.building(action, side)
    if building is None or not building.done():
        return "building"
    return "failed" if building.result() is None else "built"


@asynccontextmanager
async def endpoint_on(port: int) -> AsyncIterator[RpcEndpoint]:
    async with connect(f"ws://127.0.0.1:{port}/cp1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        endpoint = RpcEndpoint(ws, {}, LIMITS)
        reader = asyncio.create_task(endpoint.run())
        try:
            yield endpoint
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await reader


async def refusal(endpoint: RpcEndpoint, action: str, payload: dict[str, Any]) -> list[str]:
    """The code and description the endpoint refuses ``payload`` with, [] if it sends it."""
    try:
        await endpoint.call(action, payload)
    except CallFailed as exc:
        return [exc.code, exc.description]
    return []


async def first_call_valid(_: Path) -> dict[str, Any]:
    """The first CALL of the process, valid, made as the connection opens."""
    before = official_loaded()
    async with raw_csms() as (_csms, port), endpoint_on(port) as endpoint:
        boot = await endpoint.call("BootNotification", BOOT)
        return {"before": before, "answer": boot["status"],
                "check": check_of(endpoint, "BootNotification", "request"),
                "after": official_loaded()}  # fmt: skip


async def first_call_refused(_: Path) -> dict[str, Any]:
    """The first CALL of the process breaks its schema."""
    before = official_loaded()
    async with raw_csms() as (csms, port), endpoint_on(port) as endpoint:
        refused = await refusal(endpoint, "StatusNotification", BAD_STATUS)
        check = check_of(endpoint, "StatusNotification", "request")  # as it was refused
        boot = await endpoint.call("BootNotification", BOOT)  # the link goes on
        return {"before": before, "refused": refused, "check": check, "answer": boot["status"],
                "received": csms.actions, "after": official_loaded()}  # fmt: skip


async def builder_fails(_: Path) -> dict[str, Any]:
    """The builder cannot start its compiling process (as when the interpreter it runs was
    removed by an upgrade): every check stays with the official validator."""
    sys.executable = "/nonexistent/python3"
    before = official_loaded()
    async with raw_csms() as (csms, port), endpoint_on(port) as endpoint:
        boot = await endpoint.call("BootNotification", BOOT)
        check = check_of(endpoint, "BootNotification", "request")
        refused = await refusal(endpoint, "StatusNotification", BAD_STATUS)
        return {"before": before, "answer": boot["status"], "check": check, "refused": refused,
                "received": csms.actions, "after": official_loaded()}  # fmt: skip


async def builder_hangs(state_dir: Path) -> dict[str, Any]:
    """The compiling process takes the schemas and never answers: each CALL waits for its
    check a bounded time, then the official validator decides."""
    silent = state_dir / "silent"
    # Keeps its output open and reads its input to the end (the parent's exit): never answers.
    silent.write_text("#!/bin/sh\ncat >/dev/null\n")
    silent.chmod(0o755)
    sys.executable = str(silent)
    async with raw_csms() as (csms, port), endpoint_on(port) as endpoint:
        boot = await endpoint.call("BootNotification", BOOT)
        check = check_of(endpoint, "BootNotification", "request")
        refused = await refusal(endpoint, "StatusNotification", BAD_STATUS)
        return {"answer": boot["status"], "check": check, "refused": refused,
                "received": csms.actions, "after": official_loaded()}  # fmt: skip


async def peer_malformed(state_dir: Path) -> dict[str, Any]:
    """The uplink runs; the CSMS sends a rare CALL, valid, then the same CALL malformed."""
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    async with raw_csms() as (csms, port), open_outbox(state_dir / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, site, outbox, state_dir, {"c1": 1}):
            await csms.ready.wait()
            good = '[2, "v1", "ChangeAvailability", {"connectorId": 1, "type": "Operative"}]'
            valid = await csms.exchange(good, ANSWER_S)
            before = official_loaded()
            bad = '[2, "m1", "ChangeAvailability", {"connectorId": "one", "type": "Operative"}]'
            reply = await csms.exchange(bad, ANSWER_S)
            return {"valid": valid, "before": before, "reply": reply, "after": official_loaded()}


SCENARIOS: dict[str, Callable[[Path], Awaitable[dict[str, Any]]]] = {
    "first_call_valid": first_call_valid,
    "first_call_refused": first_call_refused,
    "builder_fails": builder_fails,
    "builder_hangs": builder_hangs,
    "peer_malformed": peer_malformed,
}


if __name__ == "__main__":
    found = asyncio.run(SCENARIOS[sys.argv[1]](Path(sys.argv[2])))
    print(json.dumps(found))
