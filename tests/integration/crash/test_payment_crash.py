"""Paid sessions under SIGKILL: the payment flow runs in a child process that is killed between
the pre-authorisation and the session's start, and during the capture; the simulated terminal
(in the test, outliving every kill) must end with exactly one capture or one reversal per
pre-authorisation, and the payments table must agree with it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_controller.sim.zvt_terminal import Behaviour, SimulatedZvtTerminal
from tests.integration.crash.payment_child import PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedZvtTerminal]:
    terminal = SimulatedZvtTerminal(password=PASSWORD)
    await terminal.start()
    yield terminal
    await terminal.stop()


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    """The rows, or none while the child has not yet created the database's tables."""
    try:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


async def life(
    db: Path,
    sim: SimulatedZvtTerminal,
    step: str,
    kill_when: str = "",
    approved: bool = False,
) -> None:
    """Run one child life; with ``kill_when`` (SQL that returns a row once the moment is
    reached; ``approved``: and the terminal approved), SIGKILL it at that moment instead of
    letting it finish."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.crash.payment_child", str(db), str(sim.port),
        step, cwd=REPO,
    )  # fmt: skip
    if not kill_when:
        assert await asyncio.wait_for(child.wait(), 60) == 0
        return
    async with asyncio.timeout(60):
        while not rows(db, kill_when) or (approved and not sim.ledger.reservations):
            assert child.returncode is None, f"{step} ended before it could be killed"
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # whatever it does next, it is stuck there
    child.send_signal(signal.SIGKILL)
    await child.wait()


def price(db: Path, total_incl_tax_minor: int) -> None:
    """The session stops and is priced (as the session side does in one commit)."""
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE sessions SET stop_at_s = 3600, meter_stop_wh = 9000")
        conn.execute(
            "INSERT INTO session_costs SELECT local_id, 'EUR', ?, ?, '{}', 3600 FROM sessions",
            (total_incl_tax_minor * 100 // 119, total_incl_tax_minor),
        )


def one_outcome_each(sim: SimulatedZvtTerminal) -> None:
    """Every pre-authorisation at the terminal is captured once or reversed once."""
    captured = [receipt for receipt, _ in sim.ledger.captures]
    for receipt, held in sim.ledger.reservations.items():
        outcomes = captured.count(receipt) + sim.ledger.reversals.count(receipt)
        assert outcomes == 1, (receipt, held, sim.ledger)


async def test_kill_between_pre_authorisation_and_start_reverses_once(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    db = tmp_path / "pay.db"
    await life(db, sim, "pay-hang", "SELECT 1 FROM payments WHERE state = 'authorised'")
    assert sim.ledger.reversals == [] and len(sim.ledger.reservations) == 1
    await life(db, sim, "recover")
    await life(db, sim, "recover")  # a second start-up finds nothing left to do
    assert sim.ledger.reversals == [1] and sim.ledger.captures == []
    one_outcome_each(sim)
    assert rows(db, "SELECT state FROM payments") == [("reversed",)]


async def test_kill_after_the_session_opened_links_it_and_captures_once(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    db = tmp_path / "pay.db"
    await life(db, sim, "pay-start-hang", "SELECT 1 FROM sessions")
    assert rows(db, "SELECT state FROM payments") == [("authorised",)]
    await life(db, sim, "recover")  # the EV charges on it: linked, never reversed
    assert rows(db, "SELECT state, session_local_id FROM payments") == [("started", 1)]
    price(db, 1717)
    await life(db, sim, "recover")
    await life(db, sim, "recover")
    assert sim.ledger.captures == [(1, 1717)] and sim.ledger.reversals == []
    one_outcome_each(sim)


async def test_kill_during_the_capture_captures_once_after_restart(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    db = tmp_path / "pay.db"
    await life(db, sim, "pay")
    price(db, 2468)
    sim.behaviour = Behaviour.SILENT  # the book total is taken, its answer never comes
    await life(db, sim, "recover", "SELECT 1 FROM payments WHERE state = 'capturing'")
    assert sim.ledger.captures == []
    sim.behaviour = Behaviour.APPROVE
    await life(db, sim, "recover")
    await life(db, sim, "recover")
    assert sim.ledger.captures == [(1, 2468)]
    one_outcome_each(sim)
    assert rows(db, "SELECT state, settled_minor FROM payments") == [("settled", 2468)]


async def test_kill_after_the_approval_before_it_is_stored_is_reported_as_unknown(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """The terminal approved, the kill came before the approval reached the database: only
    the terminal knows the reservation, and a ZVT reversal needs the receipt number its answer
    carried. The intent stored before 06 22 is found at the next start-up and reported once
    as an unknown outcome (terminal, connector, amount), never silently dropped."""
    db = tmp_path / "pay.db"
    await life(db, sim, "approve-hang", "SELECT 1 FROM payment_intents", approved=True)
    assert len(sim.ledger.reservations) == 1 and rows(db, "SELECT * FROM payments") == []
    assert rows(
        db, "SELECT terminal_id, connector_id, amount_minor, state FROM payment_intents"
    ) == [("entrance", "cp1:1", 3000, "authorising")]
    await life(db, sim, "recover")
    await life(db, sim, "recover")  # reported once: the second start-up finds it reported
    assert rows(db, "SELECT state FROM payment_intents") == [("unknown",)]
    assert sim.ledger.captures == [] and sim.ledger.reversals == []


async def test_a_stored_approval_or_a_decline_leaves_no_intent(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    db = tmp_path / "pay.db"
    await life(db, sim, "pay")
    sim.behaviour = Behaviour.DECLINE
    with pytest.raises(AssertionError):  # the declined life ends with the terminal's error
        await life(db, sim, "pay")
    assert rows(db, "SELECT * FROM payment_intents") == []
    assert rows(db, "SELECT state FROM payments") == [("started",)]
