"""The OCPP uplink of the real daemon against a bench CSMS: card taps and a CSMS outage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.server import Server

from edge_controller.domain.sessions.events import MeterSampled
from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.outbox.codec import decode
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.clock import to_iso as iso_utc
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v16.render import Connection, meter_values
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.site import CONNECTORS, FREE_TAG, profile_for
from tests.integration.pcsc.pcscd import Pcscd
from tests.integration.pcsc.vcard import VirtualCard
from tests.ports import free_port

# The timeout covers waiting for the machine's one pcscd (card test), which other runs may hold.
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(400)]

IDENTITY = "site1"
# Site topology: one identity, connectors numbered across the chargers in config order.
OCPP_NUMBER = {"keba:1": 1, "charx:1": 2, "charx:2": 3, "charx:3": 4, "hd1:1": 5, "hd2:1": 6}
CYCLES = 9  # per connector: 6 x 9 = 54 sessions while the CSMS is away
CARD = bytes.fromhex("04C0FFEE")
RENDERING = Connection(Topology("site", IDENTITY, {}), ClockSync())  # the clock is plausible


@dataclass
class Csms:
    """The bench CSMS on a fixed port, so it can go away and come back at the same address."""

    csms: BenchCsms
    port: int
    server: Server | None = None

    async def start(self) -> None:
        self.server = await self.csms.start("127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def calls(self, action: str) -> list[dict[str, Any]]:
        return [p for _, a, p in self.csms.record.calls if a == action]


@pytest.fixture
async def csms() -> AsyncIterator[Csms]:
    peer = Csms(BenchCsms(), free_port())
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


def with_uplink(config: dict[str, Any], port: int) -> dict[str, Any]:
    config["ocpp"].update(
        enabled=True,
        url=f"ws://127.0.0.1:{port}",
        identity=IDENTITY,
        call_timeout_s=3,
        reconnect_min_s=0.1,
        reconnect_max_s=1.0,
        ping_interval_s=2,
        dead_timeout_s=4,
        transaction_message_retry_interval_s=1,
        meter_value_sample_interval_s=1,
        clock_aligned_data_interval_s=0,
    )
    return config


async def connected(site: E2ESite, csms: Csms) -> None:
    async def check() -> bool:
        return IDENTITY in csms.csms.connected and "BootNotification" in csms.csms.actions()

    await eventually(check, "the daemon connected to the CSMS", 30)


async def test_card_tap_starts_a_transaction_the_csms_sees(
    launch: Launch, config: dict[str, Any], csms: Csms, pcscd: Pcscd
) -> None:
    config["ocpp"]["authorization"].pop("free_vend_id_tag")
    config["readers"] = {"door": {"name_pattern": "^Virtual PCD 00 00$", "connectors": ["hd1:1"]}}
    site = await launch(with_uplink(config, csms.port))
    await connected(site, csms)
    id_tag = CARD.hex().upper()
    with VirtualCard(pcscd.slot_ports[0], CARD):

        async def authorized() -> bool:
            return any(p.get("idTag") == id_tag for p in csms.calls("Authorize"))

        await eventually(authorized, "the CSMS asked to authorize the card")
    await site.control.plug("hd1:1", profile="car3")

    async def started() -> bool:
        return any(p.get("idTag") == id_tag for p in csms.calls("StartTransaction"))

    await eventually(started, "StartTransaction with the card's idTag")
    (tx,) = csms.csms.record.transactions.values()
    assert tx["idTag"] == id_tag and tx["connectorId"] == OCPP_NUMBER["hd1:1"]
    linked_sql = (
        "SELECT s.local_id, t.remote_transaction_id FROM sessions s"
        " JOIN transaction_ids t ON t.session_local_id = s.local_id WHERE s.id_tag = ?"
    )

    async def linked() -> bool:  # the daemon stores the id once the answer is in
        return bool(site.query(linked_sql, (id_tag,)))

    await eventually(linked, "the session linked to the CSMS's transaction id")
    ((local_id, remote_id),) = site.query(linked_sql, (id_tag,))
    assert remote_id in csms.csms.record.transactions, (local_id, remote_id)


async def plug_cycles(site: E2ESite, connector_id: str, cycles: int) -> None:
    for n in range(cycles):
        await one_session(site, connector_id, hold_s=1.0 if n == 0 else 0.0)


async def one_session(site: E2ESite, connector_id: str, hold_s: float) -> None:
    """A short session: plug, wait ``hold_s`` (a meter sample happens in 1 s), unplug."""
    before = len(closed_sessions(site, connector_id))
    await site.control.plug(connector_id, profile=profile_for(connector_id))

    async def opened() -> bool:
        return bool(site.query(OPEN_ON, (connector_id,)))

    await eventually(opened, f"session open on {connector_id}")
    await asyncio.sleep(hold_s)
    await site.control.unplug(connector_id, immediate=True)

    async def closed() -> bool:
        return len(closed_sessions(site, connector_id)) > before

    await eventually(closed, f"session closed on {connector_id}")


OPEN_ON = "SELECT local_id FROM sessions WHERE connector_id = ? AND stop_at_s IS NULL"


def closed_sessions(site: E2ESite, connector_id: str | None = None) -> list[tuple[Any, ...]]:
    sql = (
        "SELECT s.local_id, s.connector_id, s.id_tag, s.start_at_s, s.meter_start_wh,"
        " s.stop_at_s, s.meter_stop_wh, s.stop_reason, t.remote_transaction_id FROM sessions s"
        " LEFT JOIN transaction_ids t ON t.session_local_id = s.local_id"
        " WHERE s.stop_at_s IS NOT NULL"
    )
    if connector_id is None:
        return site.query(sql + " ORDER BY s.local_id")
    return site.query(sql + " AND s.connector_id = ? ORDER BY s.local_id", (connector_id,))


def assert_transaction_matches(csms: Csms, row: tuple[Any, ...]) -> None:
    local_id, cid, id_tag, start_s, start_wh, stop_s, stop_wh, reason, remote_id = row
    tx = csms.csms.record.transactions.get(remote_id)
    assert tx is not None, f"session {local_id} has no transaction at the CSMS ({remote_id})"
    assert (tx["connectorId"], tx["idTag"], tx["meterStart"]) == (
        OCPP_NUMBER[cid],
        id_tag,
        start_wh,
    )
    assert tx["timestamp"] == iso_utc(start_s), (tx, row)
    assert tx["stop"] == {"meterStop": stop_wh, "reason": reason}, (tx, row)
    (stop,) = [p for p in csms.calls("StopTransaction") if p["transactionId"] == remote_id]
    assert stop["timestamp"] == iso_utc(stop_s), (stop, row)


def assert_meter_values_once(site: E2ESite, csms: Csms, remote_ids: dict[int, int]) -> int:
    """Every MeterValues the daemon queued arrived once, in its transaction; returns the count."""
    queued = site.query(
        "SELECT session_local_id, body FROM outbox WHERE event = 'meter_sampled' ORDER BY seq"
    )
    expected: dict[int, list[Any]] = {}
    for local_id, body in queued:
        sample = decode("meter_sampled", body)  # as an OCPP 1.6 connection renders it
        assert isinstance(sample, MeterSampled)
        rendered = meter_values(sample, 1, RENDERING)["meterValue"]
        expected.setdefault(remote_ids[local_id], []).extend(rendered)
    for remote_id, values in expected.items():
        assert csms.csms.record.transactions[remote_id]["meterValues"] == values, remote_id
    return len(queued)


async def test_csms_outage_loses_nothing_and_duplicates_nothing(
    launch: Launch, config: dict[str, Any], csms: Csms
) -> None:
    site = await launch(with_uplink(config, csms.port))
    await connected(site, csms)
    await csms.stop()
    loop = asyncio.get_running_loop()
    offline_at = loop.time()
    async with asyncio.TaskGroup() as group:
        for cid in CONNECTORS:
            group.create_task(plug_cycles(site, cid, CYCLES))
    sessions = closed_sessions(site)
    assert len(sessions) == len(CONNECTORS) * CYCLES
    assert not csms.csms.record.transactions  # all of them happened while it was away

    await csms.start()
    back_at = loop.time()

    async def drained() -> bool:
        pending = site.query("SELECT count(*) FROM outbox WHERE state != 'acked'")
        return bool(pending[0][0] == 0 and site.query("SELECT count(*) FROM outbox")[0][0] > 0)

    await eventually(drained, "the outbox delivered", 90)
    delivered_s = loop.time() - back_at
    sessions = closed_sessions(site)
    assert len(csms.calls("StartTransaction")) == len(sessions)  # each exactly once
    assert len(csms.calls("StopTransaction")) == len(sessions)
    assert not csms.csms.record.unknown_transaction_ids
    assert all(row[2] == FREE_TAG for row in sessions)
    for row in sessions:
        assert_transaction_matches(csms, row)
    remote_ids = {row[0]: row[8] for row in sessions}
    assert len(set(remote_ids.values())) == len(sessions)
    samples = assert_meter_values_once(site, csms, remote_ids)
    assert samples > 0
    print(
        f"{len(sessions)} sessions in {back_at - offline_at:.1f} s offline, {samples} MeterValues;"
        f" all delivered {delivered_s:.1f} s after the CSMS came back"
    )
