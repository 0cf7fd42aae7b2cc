"""PowerLoss (a restart of the whole uplink with a queue) and a dead connection being noticed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from edge_controller.domain.commands import StopReason
from edge_controller.sim.csms import BenchCsms
from edge_controller.uplink.clock import from_iso
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.outbox_events import ended, sampled, started

pytestmark = pytest.mark.integration
CHARGERS = {"c1": 1}


async def test_reboot_while_offline_then_stop_after_power_loss(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        await outbox.append("site1", started(2, "c1:1"))
        await outbox.append(
            "site1", sampled(2, 1500, "c1:1", at_s=from_iso("2026-11-27T00:01:00Z"))
        )
        # Offline: nothing listens on this port; then the power goes.
        dead = settings_for("ws://127.0.0.1:9")
        async with running_uplink(dead, FakeSite(), outbox, tmp_path, CHARGERS) as uplink:
            await asyncio.sleep(0.3)
            assert not uplink.online
            assert await uplink.authorize("04A2B3C4") is None  # offline: no CSMS answer
            # The start and the sample, and the StartupOfTheDevice security event the uplink
            # queues as it starts (on a loaded machine that write may come after the sleep).
            for _ in range(500):
                if await outbox.backlog("site1") == 3:
                    break
                await asyncio.sleep(0.01)
        assert await outbox.backlog("site1") == 3
        async with running_csms(csms) as port:
            settings = settings_for(f"ws://127.0.0.1:{port}")
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS):
                await wait_for(lambda: "MeterValues" in csms.actions())
                for _ in range(500):  # the CSMS answer must be recorded before the power goes
                    if await outbox.backlog("site1") == 0:
                        break
                    await asyncio.sleep(0.01)
            # Power fails again before the stop; the session ends with reason PowerLoss.
            await outbox.append("site1", ended(2, 1600, reason=StopReason.POWER_LOSS))
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS):
                await wait_for(lambda: "StopTransaction" in csms.actions())
    assert csms.actions().count("StartTransaction") == 1
    assert csms.record.transactions[1]["stop"] == {"meterStop": 1600, "reason": "PowerLoss"}
    assert len(csms.record.transactions[1]["meterValues"]) == 1


@asynccontextmanager
async def blackhole_proxy(target_port: int) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP relay that, once ``cut`` is set, silently stops relaying (a dead network path)."""
    cut = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, broken: bool
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if not (cut.is_set() and broken):
                    writer.write(data)
                    await writer.drain()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        writers.extend((writer, up_writer))
        broken = not cut.is_set()  # connections opened after the cut work again
        await asyncio.gather(pipe(reader, up_writer, broken), pipe(up_reader, writer, broken))
        for w in (writer, up_writer):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], cut
    finally:
        server.close()
        for w in writers:  # the peers see the path end at once, not after their timeouts
            w.close()


async def test_dead_connection_is_detected_and_replaced(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with (
        running_csms(csms) as port,
        blackhole_proxy(port) as (proxy_port, cut),
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(
            f"ws://127.0.0.1:{proxy_port}", ping_interval_s=0.5, dead_timeout_s=1.0
        )
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, CHARGERS) as uplink:
            await wait_for(lambda: uplink.online)
            cut.set()
            await wait_for(lambda: not uplink.online)
            await wait_for(lambda: csms.actions().count("BootNotification") == 2)
            await wait_for(lambda: uplink.online)
