"""What only a 2.x connection uses (the online periods that decide a TransactionEvent's
``offline``, the web payment holds) is made at an identity's first 2.x connection: an identity
the CSMS speaks 1.6 with, one per charger at a thousand chargers, never holds them. Holds a
run before kept are shown from the start, connected or not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge_controller.domain.snapshot import Availability
from edge_controller.domain.web_payment import PaymentHold
from edge_controller.services.display_board import MessageBoard
from edge_controller.sim.csms import BenchCsms
from edge_controller.uplink.state_file import OcppStateFile
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.ports import free_port

pytestmark = pytest.mark.integration


def _site() -> FakeSite:
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    return site


@pytest.mark.parametrize("offered", [["1.6"], ["2.0.1", "1.6"]])
async def test_an_identity_the_csms_speaks_16_with_holds_no_2x_parts(
    tmp_path: Path, offered: list[str]
) -> None:
    csms = BenchCsms(versions=("1.6",))  # chooses 1.6 whatever else is offered
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}", version=offered)
        async with running_uplink(settings, _site(), outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: uplink.online and "StatusNotification" in csms.actions())
            link = uplink.links[IDENTITY]
            assert link.online_periods is None
            assert link.web_payments is None
    assert not (tmp_path / f"ocpp-{IDENTITY}-online.json").exists()


async def test_a_2x_connection_makes_them_with_the_periods_kept_on_disk(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}", version=["2.0.1", "1.6"])
        async with running_uplink(settings, _site(), outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: uplink.online and "StatusNotification" in csms.actions())
            link = uplink.links[IDENTITY]
            assert link.web_payments is not None
            assert link.online_periods is not None
            assert not link.online_periods.offline(time.time())
    # The period of this connection, written before anything was sent on it, ended at its end.
    kept = (tmp_path / f"ocpp-{IDENTITY}-online.json").read_text(encoding="utf-8")
    assert kept.startswith("[[") and "null" not in kept


async def test_a_hold_kept_by_the_run_before_is_shown_before_any_connection(
    tmp_path: Path,
) -> None:
    until_s = time.time() + 300
    settings = settings_for(f"ws://127.0.0.1:{free_port()}", version=["2.1", "1.6"])
    kept = OcppStateFile(tmp_path / f"ocpp-{IDENTITY}.json", {})
    kept.set_web_payment_holds([{"connector_id": "c1:1", "reservation_id": 9, "until_s": until_s}])
    board = MessageBoard()
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        running_uplink(settings, _site(), outbox, tmp_path, {"c1": 1}, display=board) as uplink,
    ):
        assert not uplink.online  # nobody listens on that port
        assert board.holds() == {"c1:1": PaymentHold("c1:1", 9, until_s)}
        assert uplink.links[IDENTITY].web_payments is not None
