"""The schema-strict Node.js CSMS (tests/peers/strict_csms.js) as an async fixture helper."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PEERS = Path(__file__).resolve().parents[2] / "peers"


@dataclass
class StrictPeer:
    port: int
    events: list[dict[str, Any]] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None

    async def send(self, identity: str, action: str, params: dict[str, Any]) -> None:
        """Send a CALL to a connected charge point; its answer comes as an ``answer`` (or
        ``error``) event."""
        assert self.process is not None and self.process.stdin is not None
        line = json.dumps({"identity": identity, "action": action, "params": params})
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def ask(
        self, identity: str, action: str, params: dict[str, Any], timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Send a CALL and return the answer's payload once it came (a CALLERROR fails)."""
        count = len(self.answers(action))
        await self.send(identity, action, params)
        deadline_s = time.monotonic() + timeout_s
        while len(self.answers(action)) <= count:
            assert time.monotonic() < deadline_s, f"no answer to {action} in time"
            await asyncio.sleep(0.02)
        answer = self.answers(action)[count]
        assert answer["event"] == "answer", answer
        result: dict[str, Any] = answer["result"]
        return result

    def answers(self, action: str) -> list[dict[str, Any]]:
        return [
            e for e in self.events if e["event"] in ("answer", "error") and e["action"] == action
        ]

    def calls(self, action: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == "call" and action in (None, e["action"])]

    def sends(self, action: str) -> list[dict[str, Any]]:
        """The 2.1 SENDs of ``action`` received (valid ones; a bad one is ``invalid``)."""
        return [e for e in self.events if e["event"] == "send" and e["action"] == action]

    def invalid(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == "invalid"]


async def _read(process: asyncio.subprocess.Process, peer: StrictPeer) -> None:
    assert process.stdout is not None
    async for line in process.stdout:
        peer.events.append({**json.loads(line), "received_s": time.monotonic()})


@asynccontextmanager
async def strict_peer(
    auth_status: str = "Accepted",
    protocols: str = "ocpp1.6",
    call_errors: dict[str, int] | None = None,
    *,
    total_cost: float | None = None,
    clock_offset_s: float = 0.0,
    updated_status: str = "",
    authorize_tariff: dict[str, Any] | None = None,
    unknown_actions: tuple[str, ...] = (),
    transaction_limit: dict[str, Any] | None = None,
    stream_status: str = "Accepted",
    group_ids: dict[str, str] | None = None,
) -> AsyncIterator[StrictPeer]:
    """``auth_status``: what the peer answers to every Authorize and StartTransaction (2.x:
    TransactionEvent Started). ``protocols``: the subprotocols it serves, comma-separated.
    ``call_errors`` (2.x): how many of the first CALLs of an action (``"Action"`` or
    ``"Action/eventType"``) it answers with a CALLERROR. ``total_cost`` (2.x): the totalCost
    of every answer to a TransactionEvent Ended. ``authorize_tariff`` (2.1): the driver's
    tariff every accepted Authorize answer carries. ``clock_offset_s``: how far the peer's clock
    (its currentTime) is ahead of this machine's. ``updated_status`` (2.x): the idTokenInfo
    status in its answers to TransactionEvent Updated (empty: none). ``unknown_actions`` (1.6):
    actions it does not know (answered NotImplemented). ``transaction_limit`` (2.1): the
    transactionLimit of every answer to a TransactionEvent Started. ``stream_status`` (2.1):
    its answer to every OpenPeriodicEventStream. ``group_ids``: idToken -> the group its
    Authorize answer gives (2.x groupIdToken, 1.6 parentIdTag)."""
    node = shutil.which("node")
    assert node is not None, "node is required for the strict CSMS peer"
    assert (PEERS / "node_modules" / "ocpp-rpc").is_dir(), "run npm install in tests/peers"
    process = await asyncio.create_subprocess_exec(
        node, str(PEERS / "strict_csms.js"), "0", cwd=PEERS, stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.PIPE,
        env={**os.environ, "AUTH_STATUS": auth_status, "PROTOCOLS": protocols,
             "CALL_ERRORS": json.dumps(call_errors or {}), "CLOCK_OFFSET_S": str(clock_offset_s),
             "UPDATED_STATUS": updated_status, "UNKNOWN_ACTIONS": ",".join(unknown_actions),
             "STREAM_STATUS": stream_status, "GROUP_IDS": json.dumps(group_ids or {}),
             **({} if total_cost is None else {"TOTAL_COST": str(total_cost)}),
             **({} if transaction_limit is None
                else {"TX_LIMIT": json.dumps(transaction_limit)}),
             **({} if authorize_tariff is None
                else {"AUTHORIZE_TARIFF": json.dumps(authorize_tariff)})},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = json.loads(await asyncio.wait_for(process.stdout.readline(), 15))
        peer = StrictPeer(port=int(first["port"]), process=process)
        reader = asyncio.create_task(_read(process, peer))
        try:
            yield peer
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
