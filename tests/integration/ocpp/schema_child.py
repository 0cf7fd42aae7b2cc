"""A fresh process with a 1.6 charge point's RPC endpoint (or the whole uplink) on a raw CSMS,
for ``test_schema_checks``: it runs one scenario from its start and prints, as its last line,
what came of it and whether ``jsonschema`` was imported before and after. Fresh, as a module
once imported stays and a check once built is kept by the process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

# The daemon's imports, as `run` makes them.
import edge_controller.app.daemon
import edge_controller.app.site  # noqa: F401
from edge_controller.domain.snapshot import Availability
from edge_controller.uplink import schemas
from edge_controller.uplink.dialect import CALL, negotiated
from edge_controller.uplink.rpc import CallFailed, Limits, OutgoingCall, RpcEndpoint, dumps
from edge_controller.uplink.schemas import REQUEST, RESPONSE, schemas_for
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.raw_csms import raw_csms
from tests.outbox_events import sampled

BOOT = {"chargePointVendor": "Example", "chargePointModel": "EC-1"}
# Breaks the 1.6 StatusNotification schema: the connector's number as a word.
BAD_STATUS = {"connectorId": "one", "errorCode": "NoError", "status": "Available"}
LIMITS = Limits(call_timeout_s=30.0, max_frame_bytes=65536)
ANSWER_S = 30.0  # a loaded machine: the raw CSMS's wait for an answer to its CALL
# A message's wait for its compiled checks where a scenario needs them built: as long as it
# takes on a loaded machine. And where the builder never answers: short, the bound is the point.
BUILT_WAIT_S, HUNG_WAIT_S = 120.0, 0.2


def official_loaded() -> bool:
    return "jsonschema" in sys.modules


def check_of(endpoint: RpcEndpoint, action: str, side: str) -> str:
    """Where the compiled check of ``action``'s ``side`` is: built, failed or building."""
    building = endpoint.schemas.building(action, side)
    if building is None or not building.done():
        return "building"
    return "failed" if building.result() is None else "built"


def hang_builder(state_dir: Path) -> None:
    """The compiling process takes the schemas and never answers."""
    silent = state_dir / "silent"
    # Keeps its output open and reads its input to the end (the parent's exit): never answers.
    silent.write_text("#!/bin/sh\ncat >/dev/null\n")
    silent.chmod(0o755)
    sys.executable = str(silent)


async def nothing() -> None:
    return None


async def accept(_: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted"}


@asynccontextmanager
async def endpoint_on(port: int, wait_s: float = BUILT_WAIT_S) -> AsyncIterator[RpcEndpoint]:
    """A 1.6 endpoint that answers ChangeAvailability, its checks waited for ``wait_s``."""
    schemas_for(negotiated("ocpp1.6")).wait_s = wait_s
    async with connect(f"ws://127.0.0.1:{port}/cp1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        endpoint = RpcEndpoint(ws, {"ChangeAvailability": accept}, LIMITS)
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
    hang_builder(state_dir)
    async with raw_csms() as (csms, port), endpoint_on(port, HUNG_WAIT_S) as endpoint:
        boot = await endpoint.call("BootNotification", BOOT)
        check = check_of(endpoint, "BootNotification", "request")
        refused = await refusal(endpoint, "StatusNotification", BAD_STATUS)
        return {"answer": boot["status"], "check": check, "refused": refused,
                "received": csms.actions, "after": official_loaded()}  # fmt: skip


async def peer_malformed(state_dir: Path) -> dict[str, Any]:
    """The uplink runs; the CSMS sends a rare CALL, valid, then the same CALL malformed."""
    schemas_for(negotiated("ocpp1.6")).wait_s = BUILT_WAIT_S
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


async def answer_unchecked(state_dir: Path) -> dict[str, Any]:
    """The builder never answers and a message would wait for its checks far longer than the
    CSMS takes to answer: the answer to a CALL framed without waiting (the request's check is
    not the point) is returned once it is in, checked without waiting for its compiled check.
    Awaiting that check after the answer came let a stop's deadline cancel the caller with the
    answer lost (the CALL sent again at the next start: a second transaction)."""
    hang_builder(state_dir)
    async with raw_csms() as (csms, port), endpoint_on(port, 600.0) as endpoint:
        outgoing = OutgoingCall(
            "b1", "BootNotification", dumps([CALL, "b1", "BootNotification", BOOT])
        )
        exchange = asyncio.create_task(endpoint.exchange(outgoing, nothing))
        try:
            answer, _ = await asyncio.wait_for(asyncio.shield(exchange), ANSWER_S)
            returned = answer["status"]
        except TimeoutError:
            returned = "still waiting"
            exchange.cancel()
        return {"answer": returned, "received": csms.actions,
                "check": check_of(endpoint, "BootNotification", "response")}  # fmt: skip


async def calls_in_order(_: Path) -> dict[str, Any]:
    """Two tasks' CALLs: the first asked for (a rare action, its checks not built) goes out
    first, though the second's checks are built."""
    async with raw_csms() as (csms, port), endpoint_on(port) as endpoint:
        await endpoint.call("BootNotification", BOOT)
        for side in (REQUEST, RESPONSE):
            building = endpoint.schemas.ask("Heartbeat", side)
            assert building is not None
            await asyncio.wrap_future(building)
        first = asyncio.create_task(endpoint.call("DataTransfer", {"vendorId": "x"}))
        await asyncio.sleep(0)  # asked for first
        second = asyncio.create_task(endpoint.call("Heartbeat", {}))
        await asyncio.gather(first, second, return_exceptions=True)  # {} answers DataTransfer
        return {"received": csms.actions,
                "check": check_of(endpoint, "DataTransfer", "request")}  # fmt: skip


async def peer_call_one_wait(state_dir: Path) -> dict[str, Any]:
    """The builder never answers; the CSMS sends a CALL whose checks are not built: its
    request's and its answer's checks are waited for within one bound, not one each."""
    hang_builder(state_dir)
    async with raw_csms() as (csms, port), endpoint_on(port, 1.0) as endpoint:
        while csms.connection is None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        good = '[2, "v1", "ChangeAvailability", {"connectorId": 1, "type": "Operative"}]'
        reply = await csms.exchange(good, ANSWER_S)
        until = endpoint.schemas._wait_until_s
        key = "ChangeAvailability"
        return {"reply": reply, "one_deadline": until[key, REQUEST] == until[key, RESPONSE]}


async def without_jsonschema(_: Path) -> dict[str, Any]:
    """``jsonschema`` cannot be imported (removed under the running daemon): a CSMS CALL the
    compiled check refuses still gets an answer, and a CALL of ours that it refuses fails as a
    CALL (the outbox parks it) rather than with an import error."""
    sys.modules["jsonschema"] = None  # type: ignore[assignment]  # as when it is not installed
    async with raw_csms() as (csms, port), endpoint_on(port) as endpoint:
        while csms.connection is None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        good = '[2, "v1", "ChangeAvailability", {"connectorId": 1, "type": "Operative"}]'
        valid = await csms.exchange(good, ANSWER_S)
        bad = '[2, "m1", "ChangeAvailability", {"connectorId": "one", "type": "Operative"}]'
        reply = await csms.exchange(bad, ANSWER_S)
        refused = await refusal(endpoint, "StatusNotification", BAD_STATUS)
        boot = await endpoint.call("BootNotification", BOOT)  # the link goes on
        return {"valid": valid, "reply": reply[:3], "refused": refused[:1],
                "answer": boot["status"], "received": csms.actions}  # fmt: skip


async def outbox_turn_free(state_dir: Path) -> dict[str, Any]:
    """The outbox holds a MeterValues and then a problem report (a DataTransfer, whose checks
    are not built ahead), and the builder holds the DataTransfer's until the scenario lets it
    go: while the MeterValues is in flight the sender reads the report, and leaves its checks
    to after the answer rather than waiting for them in the turn, so an Authorize asked for
    meanwhile goes out."""
    # Here only: the bench CSMS imports jsonschema, which the other scenarios watch for.
    from edge_controller.domain.problems import ProblemKind, ProblemReported
    from edge_controller.sim.csms import BenchCsms

    shared = schemas_for(negotiated("ocpp1.6"))
    shared.wait_s = BUILT_WAIT_S
    for side in (REQUEST, RESPONSE):  # built ahead, as a routine CALL's: the builder is held
        building = shared.ask("Authorize", side)
        assert building is not None
        await asyncio.wrap_future(building)
    held = threading.Event()
    compiled = schemas._BUILDER.compiled

    def holding(text: str) -> Any:  # in the builder's thread
        if '"messageId"' in text:  # the DataTransfer request's schema, no other 1.6 one
            held.wait(BUILT_WAIT_S)
        return compiled(text)

    schemas._BUILDER.compiled = holding  # type: ignore[method-assign]
    csms = BenchCsms()
    report = ProblemReported("P-1", "c1:1", ProblemKind.OTHER, "cut", "driver", 1e9)
    async with open_outbox(state_dir / "db.sqlite") as outbox:
        await outbox.append("site1", sampled(None, 6, "c1:1"))
        await outbox.append("site1", report)
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, FakeSite(), outbox, state_dir, {"c1": 2}) as up:
                await wait_for(lambda: "MeterValues" in actions_of(csms), 60)
                try:
                    await asyncio.wait_for(up.authorize("TAG1"), ANSWER_S)
                    authorize = "answered"
                except TimeoutError:
                    authorize = "held"
                held.set()
                await wait_for(lambda: "DataTransfer" in actions_of(csms), 60)
    asked = ("MeterValues", "Authorize", "DataTransfer")
    return {"authorize": authorize, "received": [a for a in actions_of(csms) if a in asked]}


def actions_of(csms: Any) -> list[str]:
    """The actions of the bench CSMS's CALLs received, in order."""
    return [action for _, action, _ in csms.record.calls]


SCENARIOS: dict[str, Callable[[Path], Coroutine[Any, Any, dict[str, Any]]]] = {
    "first_call_valid": first_call_valid,
    "first_call_refused": first_call_refused,
    "builder_fails": builder_fails,
    "builder_hangs": builder_hangs,
    "peer_malformed": peer_malformed,
    "answer_unchecked": answer_unchecked,
    "calls_in_order": calls_in_order,
    "peer_call_one_wait": peer_call_one_wait,
    "without_jsonschema": without_jsonschema,
    "outbox_turn_free": outbox_turn_free,
}


if __name__ == "__main__":
    found = asyncio.run(SCENARIOS[sys.argv[1]](Path(sys.argv[2])))
    print(json.dumps(found))
