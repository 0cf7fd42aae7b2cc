"""Sessions survive a killed daemon: reconciled at restart exactly once, from the database."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.e2e.site import FREE_TAG, profile_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

STAYS = ("keba:1", "hd1:1")  # EVs still plugged when the daemon comes back
LEAVES = "charx:1"  # EV unplugged while the daemon was down
ROWS = "SELECT local_id, connector_id, id_tag, stop_at_s, stop_reason FROM sessions"


def sessions(site: E2ESite) -> dict[str, list[tuple[Any, ...]]]:
    """Every recorded session, by connector."""
    by_connector: dict[str, list[tuple[Any, ...]]] = {}
    for row in site.query(ROWS + " ORDER BY local_id"):
        by_connector.setdefault(row[1], []).append(row)
    return by_connector


async def wait_reconciled(site: E2ESite, open_ids: dict[str, int]) -> None:
    """The session of the EV that left is closed; the others are open and shown as running."""

    async def check() -> bool:
        closed = sessions(site)[LEAVES][0]
        if closed[3] is None:
            return False
        view = {c.connector_id: c for c in (await site.status()).connectors}
        return all(view[c].session_id == str(open_ids[c]) for c in STAYS)

    await eventually(check, "open sessions reconciled after the restart", 30)


def assert_reconciled_once(site: E2ESite, open_ids: dict[str, int]) -> None:
    rows = sessions(site)
    assert sorted(rows) == sorted([*STAYS, LEAVES]), rows  # no session was added
    assert all(len(r) == 1 for r in rows.values()), rows  # nor duplicated
    (leaver,) = rows[LEAVES]
    assert leaver[4] == "PowerLoss" and leaver[2] == FREE_TAG, leaver
    for cid in STAYS:
        (row,) = rows[cid]
        assert row[0] == open_ids[cid] and row[3] is None, row  # resumed: same id, still open


async def test_killed_daemon_sessions_are_resumed_or_closed_once(
    launch: Launch, config: dict[str, Any]
) -> None:
    site = await launch(config)
    await site.plug_all((*STAYS, LEAVES), profile_for)

    async def all_open() -> bool:
        rows = sessions(site)
        return len(rows) == 3 and all(r[0][3] is None for r in rows.values())

    await eventually(all_open, "three sessions open")
    open_ids = {cid: rows[0][0] for cid, rows in sessions(site).items()}

    site.kill_daemon()
    await site.control.unplug(LEAVES, immediate=True)
    await site.start_daemon()
    await wait_reconciled(site, open_ids)
    assert_reconciled_once(site, open_ids)
    stopped_at_s = sessions(site)[LEAVES][0][3]

    # A second crash and restart changes nothing: the reconciliation is not repeated.
    site.kill_daemon()
    await site.start_daemon()
    await wait_reconciled(site, open_ids)
    assert_reconciled_once(site, open_ids)
    assert sessions(site)[LEAVES][0][3] == stopped_at_s

    # The resumed sessions are live: unplugging one now closes it as a normal end.
    await site.control.unplug(STAYS[0])

    async def ended() -> bool:
        return sessions(site)[STAYS[0]][0][3] is not None

    await eventually(ended, f"{STAYS[0]} session closed on unplug")
    assert sessions(site)[STAYS[0]][0][4] == "EVDisconnected"
