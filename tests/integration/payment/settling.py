"""Steps the card payment tests share: a paid session charged and ended, its cost captured."""

from __future__ import annotations

import asyncio

from edge_controller.app.commands import CommandPort
from edge_controller.domain.commands import Origin, StopSession
from edge_controller.services.payments import PaymentFlow
from tests.integration.ocpp.sessions_site import LiveSite


async def charged_and_ended(
    site: LiveSite, commands: CommandPort, connector_id: str, energy_wh: int, duration_s: float
) -> None:
    """The session on ``connector_id`` takes ``energy_wh`` in ``duration_s``, is stopped and its
    EV leaves."""
    site.meters[connector_id].energy_wh += energy_wh
    site.clock.now_s += duration_s
    await commands.decide(StopSession(connector_id, Origin.MQTT))
    await site.unplug(connector_id)


async def settled(flow: PaymentFlow) -> None:
    """The flow's sweep until an ended session's cost is captured (the stop is recorded and
    priced by the session side's worker first)."""
    for _ in range(100):
        if await flow.settle_due():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("nothing was captured")
