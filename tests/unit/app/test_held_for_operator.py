"""What the site keeps but could not deliver or settle reaches the operator: parked outbox
messages (listed, put back in line with the daemon stopped or through its status socket) and
card payments whose outcome is unknown (listed by the revenue summary); both counted on the MQTT
status and /metrics from the database itself. Real SQLite, a real status socket."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from edge_controller.api.server import StatusServer
from edge_controller.app.attention import Attention
from edge_controller.app.outbox_admin import daemon_requeue
from edge_controller.cli import main
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.snapshot import SiteView
from edge_controller.storage import history
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.payments_store import PaymentStore
from edge_controller.telemetry.payloads import site_payload
from edge_controller.web.prometheus import SiteCollector, registry
from tests.outbox_events import T0_S, ended, sampled, started

EUR = Currency.of("EUR")


@pytest.fixture
def state() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="op-"))  # the status socket's path must be short
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def config_in(state: Path) -> str:
    path = state / "site.yaml"
    path.write_text(
        f"site: {{id: site1, grid_limit_a: 63, time_zone: UTC}}\nstorage: {{state_dir: {state}}}\n",
        encoding="utf-8",
    )
    return str(path)


async def cli(argv: list[str]) -> int:
    """The command as run from a shell: it runs event loops of its own."""
    return await asyncio.to_thread(main, argv)


async def refused(db: Database) -> tuple[Outbox, list[int]]:
    """Three messages the CSMS refused three times each (parked), one still pending."""
    outbox = Outbox(db)
    seqs = [await outbox.append("cp1", e) for e in (started(1), sampled(1, 1500), ended(1, 2000))]
    await outbox.append("cp1", started(2))
    for seq in seqs:
        for _ in range(3):
            await outbox.record_failure(seq, "CALLERROR FormationViolation: bad meterStart")
        await outbox.park(seq, "3 attempts failed, last: CALLERROR FormationViolation")
    return outbox, seqs


async def with_db(path: Path) -> list[int]:
    db = await Database.open(path)
    try:
        return (await refused(db))[1]
    finally:
        await db.close()


async def states(path: Path) -> dict[int, tuple[str, int]]:
    db = await Database.open(path)
    try:
        rows = await db.read(
            lambda c: c.execute("SELECT seq, state, attempts FROM outbox").fetchall()
        )
    finally:
        await db.close()
    return {int(r[0]): (str(r[1]), int(r[2])) for r in rows}


async def test_requeue_gives_a_message_its_attempts_again(tmp_path: Path) -> None:
    """Kept at 3 attempts, the first failure after a requeue parked it again at once."""
    db = await Database.open(tmp_path / "edge.db")
    try:
        outbox, seqs = await refused(db)
        await outbox.requeue(seqs[0])
        assert await outbox.record_failure(seqs[0], "timeout") == 1
        with pytest.raises(KeyError):
            await outbox.requeue(seqs[0])  # pending now, not parked
        assert await outbox.requeue_all() == seqs[1:]
        assert await outbox.parked_count() == 0
        head = await outbox.peek("cp1")
        assert head is not None and head.seq == seqs[0] and head.attempts == 1
    finally:
        await db.close()


async def test_cli_lists_and_requeues_with_the_daemon_stopped(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seqs = await with_db(state / "edge.db")
    config = config_in(state)
    capsys.readouterr()
    assert await cli(["outbox", "--config", config]) == 0
    assert capsys.readouterr().out == "pending 1  parked 3\n"
    assert await cli(["outbox", "--config", config, "--parked"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines[1:]] == seqs
    assert "session_started" in lines[1] and "CALLERROR FormationViolation" in lines[1]
    assert await cli(["outbox", "--config", config, "--requeue", str(seqs[1])]) == 0
    assert capsys.readouterr().out == f"requeued 1 message(s): {seqs[1]}\n"
    assert await cli(["outbox", "--config", config, "--requeue", str(seqs[1])]) == 1
    assert "is not parked" in capsys.readouterr().err
    assert await cli(["outbox", "--config", config, "--requeue-all"]) == 0
    assert capsys.readouterr().out == f"requeued 2 message(s): {seqs[0]} {seqs[2]}\n"
    found = await states(state / "edge.db")
    assert all(found[s] == ("pending", 0) for s in seqs) and len(found) == 4
    assert main(["outbox", "--config", config, "--requeue", "1", "--requeue-all"]) == 2


class Daemon:
    """A status server on its own loop and thread (the CLI runs its own event loop) with the
    daemon's requeue job on the real database."""

    def __init__(self, state: Path) -> None:
        self.state, self.woken = state, 0
        self.ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),))

    async def _serve(self) -> None:
        db = await Database.open(self.state / "edge.db")
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        job = daemon_requeue(Outbox(db), self._wake)
        server = StatusServer(
            self.state / "status.sock",
            lambda: SiteView("s", None, 63.0, None, None),
            None,
            None,
            job,
        )
        serving = asyncio.create_task(server.run())
        while not (self.state / "status.sock").exists():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        self.ready.set()
        try:
            await serving
        except asyncio.CancelledError:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
        finally:
            await db.close()

    def _wake(self) -> None:
        self.woken += 1

    def __enter__(self) -> Daemon:
        self._thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)  # type: ignore[union-attr]
        self._thread.join(10)


async def test_cli_requeues_through_the_running_daemon(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seqs = await with_db(state / "edge.db")
    config = config_in(state)
    with Daemon(state) as daemon:
        capsys.readouterr()
        code = await cli(["outbox", "--config", config, "--requeue", "999"])
        assert code == 1 and "999 is not parked" in capsys.readouterr().err
        assert daemon.woken == 0
        code = await cli(["outbox", "--config", config, "--requeue-all"])
        assert code == 0 and capsys.readouterr().out.endswith(f"{seqs[-1]}\n")
        assert daemon.woken == 1  # the sender sends them at once
    found = await states(state / "edge.db")
    assert [found[s] for s in seqs] == [("pending", 0)] * 3


async def test_counts_on_mqtt_and_metrics_and_unknown_payments_in_the_summary(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = await Database.open(state / "edge.db")
    try:
        await refused(db)
        payments = PaymentStore(db)
        await payments.authorising("t1", "wb1:2", Money.of_minor(5000, EUR), T0_S)
        await payments.authorising("t1", "wb1:1", Money.of_minor(2550, EUR), T0_S + 60)
        await payments.authorising("t2", "wb2:1", Money.of_minor(100, EUR), T0_S)
        assert len(await payments.unknown_outcomes("t1")) == 2  # t2's is still 'authorising'
        attention = Attention(db)
        await attention.refresh()
    finally:
        await db.close()
    assert attention.counts() == (3, 2)
    view = SiteView("s", None, 63.0, None, None, outbox_parked=3, payments_unknown=2)
    payload = site_payload(view)
    assert (payload["outbox_parked"], payload["payments_unknown"]) == attention.counts()
    text = generate_latest(registry(SiteCollector(lambda: view, lambda: 0))).decode()
    assert "edge_outbox_parked 3.0" in text and "edge_payments_unknown 2.0" in text
    capsys.readouterr()
    assert main(["sessions", "--config", config_in(state), "--summary"]) == 0
    unknown = [x for x in capsys.readouterr().out.splitlines() if x.startswith("payment outcome")]
    assert unknown == [
        "payment outcome unknown: terminal t1, connector wb1:2, 50.00 EUR, at "
        "2026-11-27T00:00:00Z (check the terminal's journal)",
        "payment outcome unknown: terminal t1, connector wb1:1, 25.50 EUR, at "
        "2026-11-27T00:01:00Z (check the terminal's journal)",
    ]
    assert main(["sessions", "--config", config_in(state), "--summary", "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert "payment outcome" not in out.out and out.err.count("payment outcome unknown") == 2
    with history.reading(state / "edge.db") as conn:
        assert [i.amount_minor for i in history.unknown_intents(conn)] == [5000, 2550]
