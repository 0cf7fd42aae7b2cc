"""A message the CSMS refused until it was parked reaches the CSMS once the operator puts it
back in line: the whole daemon on the simulated site and the schema-strict CSMS on OCPP 2.0.1,
which refuses a session's TransactionEvent Started once (one attempt allowed). The session's
later events cannot go without their start and are parked behind it; ``edge-controller outbox
--requeue-all`` through the running daemon puts them all back, and the CSMS then has the
session once, in order, with the energy the daemon recorded."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest

from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.test_ocpp import OPEN_ON, with_uplink
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]
CONNECTOR = "hd1:1"
PARKED = "SELECT count(*) FROM outbox WHERE state = 'parked'"


async def cli(site: E2ESite, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CONTROLLER__")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_controller", *args, "--config", str(site.config_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


def _events(peer: StrictPeer) -> list[dict[str, Any]]:
    return [c["params"] for c in peer.calls("TransactionEvent")]


def _register(event: dict[str, Any], context: str) -> float:
    return next(
        float(v["value"])
        for mv in event["meterValue"]
        for v in mv["sampledValue"]
        if v.get("context") == context and v.get("measurand") == "Energy.Active.Import.Register"
    )


async def test_a_parked_session_requeued_by_the_operator_reaches_the_csms(
    launch: Launch, config: dict[str, Any]
) -> None:
    async with strict_peer(
        protocols="ocpp2.0.1", call_errors={"TransactionEvent/Started": 1}
    ) as peer:
        config = with_uplink(config, peer.port)
        config["ocpp"].update(version="2.0.1", transaction_message_attempts=1)
        site = await launch(config)

        async def booted() -> bool:
            return bool(peer.calls("BootNotification"))

        await eventually(booted, "the daemon booted at the strict CSMS", 30)
        await site.control.plug(CONNECTOR, profile="car3")

        async def opened() -> bool:
            return bool(site.query(OPEN_ON, (CONNECTOR,)))

        await eventually(opened, f"a free-vend session on {CONNECTOR}")
        await asyncio.sleep(2.0)  # charging: a periodic sample each second
        await site.control.unplug(CONNECTOR, immediate=True)

        async def closed() -> bool:
            return not site.query(OPEN_ON, (CONNECTOR,))

        await eventually(closed, "the session ended")
        ((parked_before,),) = site.query(PARKED)

        async def all_parked() -> bool:
            # The refused start, and each later event of its session behind it.
            ((parked,),) = site.query(PARKED)
            pending = site.query("SELECT count(*) FROM outbox WHERE state = 'pending'")
            return parked >= 2 and pending == [(0,)]

        await eventually(all_parked, "the session's events parked")
        ((parked_count,),) = site.query(PARKED)
        assert [e["eventType"] for e in _events(peer)] == ["Started"]  # refused, once

        code, said = await cli(site, "outbox", "--requeue-all")
        assert code == 0, said
        assert f"requeued {parked_count} message(s)" in said

        async def delivered() -> bool:
            return any(e["eventType"] == "Ended" for e in _events(peer))

        await eventually(delivered, "the session's Ended event at the CSMS", 30)
        await eventually(lambda: _none_parked(site), "nothing parked any more")
        ((start_wh, stop_wh),) = site.query(
            "SELECT meter_start_wh, meter_stop_wh FROM sessions WHERE connector_id = ?",
            (CONNECTOR,),
        )
    assert parked_before <= parked_count
    events = _events(peer)
    kinds = [e["eventType"] for e in events]
    # The refused Started, then the whole session once, in order, without a gap in seqNo.
    assert kinds[0] == "Started" and kinds[1] == "Started" and kinds[-1] == "Ended"
    assert kinds.count("Ended") == 1 and kinds.count("Started") == 2
    delivered_events = events[1:]
    assert [e["seqNo"] for e in delivered_events] == list(range(len(delivered_events)))
    assert len({e["transactionInfo"]["transactionId"] for e in events}) == 1
    end_wh = _register(delivered_events[-1], "Transaction.End")
    assert end_wh - _register(delivered_events[0], "Transaction.Begin") == stop_wh - start_wh
    assert stop_wh > start_wh  # the EV charged
    assert peer.invalid() == []


async def _none_parked(site: E2ESite) -> bool:
    return site.query(PARKED) == [(0,)]
