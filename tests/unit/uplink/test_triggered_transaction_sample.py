"""TriggerMessage TransactionEvent of a transaction no session runs in: the connector's view
may still name a transaction whose end was committed meanwhile (the session side forgets it
only after that commit). The triggered sample must not follow its Ended in the outbox."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions.events import EvConnected, EvWaitEnded, MeterSampled
from edge_controller.domain.snapshot import Availability, ConnectorState, ConnectorView
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.plugs_store import PlugStore
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.link import IdentityCore
from edge_controller.uplink.metering import Metering
from edge_controller.uplink.ports import MeterSample, SessionSample
from edge_controller.uplink.state_file import OcppStateFile
from edge_controller.uplink.topology import Topology

CID = "cp1:1"
AT_S = 1_700_000_000.0


class _Views:
    """The status as the uplink reads it: the transaction still shown on the connector."""

    def __init__(self, transaction_id: str) -> None:
        self.view = ConnectorView(
            CID, Availability.AVAILABLE, 0.0, "", transaction_id=transaction_id
        )

    def connectors(self) -> Sequence[ConnectorView]:
        return [self.view]

    def connectors_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorView]:
        return [self.view] if CID in connector_ids else []

    def states_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorState]:
        return [ConnectorState.of(self.view)] if CID in connector_ids else []

    def reservation_ids(self) -> frozenset[int]:
        return frozenset()


class _Meters:
    def sample(self, connector_id: str) -> MeterSample | None:
        return MeterSample(at_s=AT_S, energy_register_wh=5000.0, power_w=0.0)


class _NoSessions:
    async def record_sample(self, sample: SessionSample) -> bool:
        raise AssertionError("no session runs here")


async def _metering(tmp_path: Path, outbox: Outbox, local_id: int) -> Metering:
    core = IdentityCore(
        "site",
        Topology("site", "site", {"cp1": 1}),
        OcppStateFile(tmp_path / "ocpp-site.json", {}),
        _Views(str(local_id)),
        outbox,
        ClockSync(),
        lambda: AT_S + 60,
    )
    return Metering(core, _Meters(), _NoSessions(), lambda: None)


async def test_a_triggered_sample_is_not_queued_after_the_transactions_end(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "e.db")
    try:
        outbox, plugs = Outbox(db), PlugStore(db)
        local_id = await plugs.open("site", lambda n: EvConnected(n, CID, AT_S))
        metering = await _metering(tmp_path, outbox, local_id)
        assert await metering.record_triggered(None) == 1  # open: an Updated of it
        ended = EvWaitEnded(local_id, CID, AT_S + 30, StopReason.EV_DISCONNECTED)
        assert await plugs.end("site", ended)
        assert await metering.record_triggered(None) == 0  # the view lags: nothing after it
        kinds = []
        while (msg := await outbox.peek("site")) is not None:
            kinds.append(type(msg.event))
            await outbox.ack(msg.seq)
        assert kinds == [EvConnected, MeterSampled, EvWaitEnded]
    finally:
        await db.close()
