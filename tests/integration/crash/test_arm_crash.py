"""A self-arming card terminal under SIGKILL: the daemon's payment flow and auto-arm service run
in a child process killed while the terminal waits for the card, while an abort of it is under
way, and once the card was read but before the session opened. The simulated terminal (in the
test, outliving every kill) must end with one capture or one reversal per pre-authorisation and
nothing held on a card; the terminal is never left armed for a connector whose EV is gone; a
paid session is settled once, for its priced cost in minor units."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_controller.sim.zvt_terminal import SimulatedZvtTerminal
from tests.integration.crash.payment_child import PASSWORD
from tests.integration.crash.test_payment_crash import one_outcome_each, price, rows
from tests.integration.mqtt.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedZvtTerminal]:
    terminal = SimulatedZvtTerminal(password=PASSWORD)
    terminal.wait_for_card = True
    await terminal.start()
    yield terminal
    await terminal.stop()


class Lives:
    """Lives of the child on one database, steered through files in one folder."""

    def __init__(self, folder: Path, sim: SimulatedZvtTerminal) -> None:
        self.folder, self.db, self._sim = folder, folder / "pay.db", sim
        self.child: asyncio.subprocess.Process | None = None
        self.waiting("cp1:1")

    def waiting(self, *connector_ids: str) -> None:
        """The EVs plugged in and waiting (none: the EV left)."""
        (self.folder / "waiting").write_text(" ".join(connector_ids))

    def flag(self, name: str, on: bool = True) -> None:
        path = self.folder / name
        if on:
            path.touch()
        else:
            path.unlink(missing_ok=True)

    async def start(self) -> None:
        self.flag("exit", False)
        self.child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.crash.arm_child", str(self.db),
            str(self._sim.port), str(self.folder), cwd=REPO, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.child.stdout is not None
        async with asyncio.timeout(60):
            while (line := await self.child.stdout.readline()) != b"ready\n":
                assert line, "the life ended before its start-up work was done"

    async def kill(self) -> None:
        assert self.child is not None and self.child.returncode is None, "ended before the kill"
        self.child.send_signal(signal.SIGKILL)
        await self.child.wait()

    async def stop(self) -> None:
        """An orderly stop (the auto-arm takes back what it armed)."""
        assert self.child is not None
        self.flag("exit")
        assert await asyncio.wait_for(self.child.wait(), 30) == 0

    def settlements(self) -> list[tuple[object, ...]]:
        return rows(
            self.db,
            "SELECT session_local_id, count(*) FROM outbox"
            " WHERE event = 'settlement_recorded' GROUP BY session_local_id",
        )


@pytest.fixture
def lives(tmp_path: Path, sim: SimulatedZvtTerminal) -> Lives:
    return Lives(tmp_path, sim)


async def nothing_held_nor_armed(lives: Lives, sim: SimulatedZvtTerminal) -> None:
    """After a restart with the EV gone: no pre-authorisation open, the terminal not armed and
    not asked to arm again, no paid session."""
    asked = sim.ledger.commands.count("0622")
    lives.waiting()
    await lives.start()
    await asyncio.sleep(0.5)  # a few of the auto-arm's rounds
    assert not sim.waiting_for_card and sim.ledger.commands.count("0622") == asked
    await lives.stop()
    one_outcome_each(sim)
    held = sim.ledger.reservations.values()
    assert all(r.reversed or r.captured_minor is not None for r in held)
    assert rows(lives.db, "SELECT 1 FROM payments WHERE state IN ('authorised', 'started')") == []
    assert rows(lives.db, "SELECT 1 FROM payment_intents WHERE state = 'authorising'") == []
    assert rows(lives.db, "SELECT 1 FROM sessions") == [] and lives.settlements() == []


async def test_kill_while_the_terminal_waits_for_the_card(
    lives: Lives, sim: SimulatedZvtTerminal
) -> None:
    """The terminal lets go of a pre-authorisation whose ECR died (its connection closed); the
    EV left meanwhile, so the next life arms nothing. The intent the kill cut is reported once
    to be checked in the terminal's journal (it holds nothing)."""
    await lives.start()
    await wait_until(lambda: sim.waiting_for_card)
    await lives.kill()
    await wait_until(lambda: not sim.waiting_for_card, timeout_s=5.0)
    assert sim.ledger.reservations == {}
    await nothing_held_nor_armed(lives, sim)
    assert sim.ledger.reservations == {} and sim.ledger.commands.count("0622") == 1
    assert rows(lives.db, "SELECT connector_id, amount_minor, state FROM payment_intents") == [
        ("cp1:1", 3000, "unknown")
    ]


async def test_kill_while_the_abort_is_under_way(lives: Lives, sim: SimulatedZvtTerminal) -> None:
    """The EV leaves while the terminal is armed; the abort (06 B0) is sent and the kill comes
    before the terminal acknowledged it: nothing is reserved, nothing armed after restart."""
    sim.abort_answer_s = 2.0
    await lives.start()
    await wait_until(lambda: sim.waiting_for_card)
    lives.waiting()
    await wait_until(lambda: sim.ledger.aborts_by_ecr == 1)
    await lives.kill()
    assert not sim.present_card()  # the abort was taken: no card is read for the gone EV
    await nothing_held_nor_armed(lives, sim)
    assert sim.ledger.reservations == {} and sim.ledger.aborts_refused == 0


async def test_kill_while_the_card_is_authorised(lives: Lives, sim: SimulatedZvtTerminal) -> None:
    """The card is read and the authorisation runs when the kill comes: the terminal, without
    its ECR, approves nothing; the EV left, nothing is armed again."""
    sim.authorising_s = 2.0
    await lives.start()
    await wait_until(lambda: sim.waiting_for_card)
    assert sim.present_card()
    await asyncio.sleep(0.3)  # the terminal shows "please wait"
    await lives.kill()
    await nothing_held_nor_armed(lives, sim)
    assert sim.ledger.reservations == {}


async def killed_after_the_approval(lives: Lives, sim: SimulatedZvtTerminal) -> None:
    """A card approved and stored, the kill before its session opens (the start held)."""
    lives.flag("hang-start")
    await lives.start()
    await wait_until(lambda: sim.waiting_for_card)
    assert sim.present_card()
    await wait_until(lambda: rows(lives.db, "SELECT 1 FROM payments WHERE state = 'authorised'"))
    await lives.kill()
    lives.flag("hang-start", False)


async def test_kill_after_the_approval_before_the_session_opened_with_the_ev_gone(
    lives: Lives, sim: SimulatedZvtTerminal
) -> None:
    """The approval is stored, the kill comes before the session opens, the EV leaves: the next
    life reverses the 30.00 once and arms nothing."""
    await killed_after_the_approval(lives, sim)
    await nothing_held_nor_armed(lives, sim)
    assert sim.ledger.reversals == [1] and sim.ledger.captures == []
    assert sim.ledger.reservations[1].amount_minor == 3000
    assert rows(lives.db, "SELECT state, authorised_minor FROM payments") == [("reversed", 3000)]


async def test_kill_after_the_approval_with_the_ev_still_waiting_is_paid_once(
    lives: Lives, sim: SimulatedZvtTerminal
) -> None:
    """Same kill, the EV still waits: the orphan reservation is reversed, the terminal arms
    itself for the EV again, a second card starts its session, and the session's priced cost is
    captured once with one settlement."""
    await killed_after_the_approval(lives, sim)
    await lives.start()
    await wait_until(lambda: sim.ledger.reversals == [1] and sim.waiting_for_card)
    assert sim.present_card()
    await wait_until(lambda: rows(lives.db, "SELECT 1 FROM payments WHERE state = 'started'"))
    await asyncio.sleep(0.3)  # the EV charges: nothing is armed for a connector in session
    assert not sim.waiting_for_card and sim.ledger.commands.count("0622") == 2
    await lives.stop()
    price(lives.db, 1717)
    lives.waiting()  # the EV left after its session
    await lives.start()
    await wait_until(lambda: sim.ledger.captures == [(2, 1717)])
    await lives.stop()
    await lives.start()
    await lives.stop()
    assert sim.ledger.captures == [(2, 1717)] and sim.ledger.reversals == [1]
    one_outcome_each(sim)
    assert rows(lives.db, "SELECT state, settled_minor FROM payments ORDER BY reference") == [
        ("reversed", None),
        ("settled", 1717),
    ]
    assert lives.settlements() == [(1, 1)]
    assert not sim.waiting_for_card
