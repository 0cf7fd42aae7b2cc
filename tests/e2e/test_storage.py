"""The database removed under the running daemon while the CSMS is away: the daemon notices,
says so (status view, critical log line), puts the database back, and the session recorded
meanwhile reaches the CSMS after a restart."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.test_ocpp import (
    Csms,
    assert_transaction_matches,
    closed_sessions,
    connected,
    csms,
    one_session,
    with_uplink,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]
__all__ = ["csms"]  # the fixture, used by name

GUARD_WITHIN_S = 10.0  # the guard checks every 2 s; generous on a busy machine


def remove_database(path: Path) -> None:
    """`rm edge.db*` (the hidden marker stays)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink()


async def storage_alarm(site: E2ESite) -> str | None:
    view = await site.status()
    return view.storage_alarm


async def test_database_removed_while_offline_loses_no_session(
    launch: Launch, config: dict[str, Any], csms: Csms
) -> None:
    site = await launch(with_uplink(config, csms.port))
    await connected(site, csms)
    await csms.stop()
    remove_database(site.db_path)

    async def alarmed() -> bool:
        return await storage_alarm(site) is not None

    await eventually(alarmed, "the storage alarm in the status view", GUARD_WITHIN_S)
    alarm = await storage_alarm(site)
    assert alarm is not None and "edge.db was removed" in alarm and "put back" in alarm
    await one_session(site, "keba:1", hold_s=5.0)  # recorded while the CSMS is away
    (row,) = closed_sessions(site)
    assert row[6] > row[4]  # it charged: meter stop above meter start (Wh)

    assert site.daemon is not None
    daemon = site.daemon
    site.kill_daemon(signal.SIGTERM)  # an orderly restart
    log = [json.loads(line) for line in daemon.log_text().splitlines() if line.startswith("{")]
    critical = [e for e in log if e.get("level") == "critical"]
    assert critical and critical[0]["change"] == "edge.db was removed"
    await site.start_daemon()
    assert await storage_alarm(site) is None  # a new start: nothing removed since
    await csms.start()

    async def delivered() -> bool:
        return bool(csms.calls("StopTransaction"))

    await eventually(delivered, "the session delivered to the CSMS", 60)
    (after,) = closed_sessions(site)
    assert after[:8] == row[:8]  # the same session, now with the CSMS's transaction id
    assert_transaction_matches(csms, after)
