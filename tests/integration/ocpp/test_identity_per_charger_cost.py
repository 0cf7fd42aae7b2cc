"""With an OCPP identity per charger, what the uplink does per second grows with the site, not
with its square: each identity's loops (statuses, availability, display messages, samples) look
at the views of their own connectors, and a sample queued for one identity wakes only its sender.

Counted, not timed (the machine is shared): the connector views the uplink asks the daemon side
for, and the outbox reads its senders make, against a real CSMS and a real outbox."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import gc
import json
import signal
import socket
import sys
import time
import tracemalloc
import types
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.datastructures import Headers

from edge_controller.domain.sessions.events import (
    IdToken,
    MeterSampled,
    OutboxEvent,
    Quantity,
    Reading,
    ReadingContext,
    SessionStarted,
    TokenType,
)
from edge_controller.domain.snapshot import Availability, ConnectorState, ConnectorView
from edge_controller.log import get_logger
from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.outbox import Outbox, OutboxMessage
from edge_controller.storage.sessions_store import EventToQueue, SessionStart
from edge_controller.uplink import service
from edge_controller.uplink.repeated_lines import FIRST_WRITTEN
from edge_controller.uplink.service import OcppUplink
from tests.e2e.procs import Proc
from tests.integration.ocpp.harness import (
    FakeLimits,
    FakeMeters,
    FakeSite,
    database_of,
    open_outbox,
    running_csms,
    running_uplink,
    session_store,
    settings_for,
    wait_for,
)
from tests.outbox_events import announcing, sampled, started
from tests.ports import free_port

pytestmark = pytest.mark.integration
CHARGERS = 40
WINDOW_S = 3.0


@dataclass
class CountingSite(FakeSite):
    """Counts each connector view it serves (the whole view: with its prices, copied), and
    each connector state (status, session, fault)."""

    served: int = 0
    states: int = 0

    def connectors(self) -> Sequence[ConnectorView]:
        self.served += len(self.views)
        return list(self.views.values())

    def connectors_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorView]:
        found = [self.views[c] for c in connector_ids if c in self.views]
        self.served += len(found)
        return found

    def states_of(self, connector_ids: Collection[str]) -> Sequence[ConnectorState]:
        found = [ConnectorState.of(self.views[c]) for c in connector_ids if c in self.views]
        self.states += len(found)
        return found


class CountingOutbox(Outbox):
    """Counts the reads of each identity's pending messages, and the appends in flight."""

    reads: dict[str, int]
    appending = 0
    most_appending = 0

    async def append(self, identity: str, event: OutboxEvent) -> int:
        self.appending += 1
        self.most_appending = max(self.most_appending, self.appending)
        try:
            return await super().append(identity, event)
        finally:
            self.appending -= 1

    async def peek_many(
        self, identity: str, *, after_seq: int | None = None, limit: int = 1
    ) -> list[OutboxMessage]:
        self.reads[identity] = self.reads.get(identity, 0) + 1
        return await super().peek_many(identity, after_seq=after_seq, limit=limit)


def _chargers() -> dict[str, int]:
    return {f"cp{n}": 1 for n in range(1, CHARGERS + 1)}


async def _online(uplink: OcppUplink, csms: BenchCsms) -> None:
    await wait_for(lambda: len(csms.connected) == CHARGERS and uplink.online)
    await wait_for(lambda: all(link.accepted for link in uplink.links.values()))
    await asyncio.sleep(1.5)  # first statuses and security events sent


async def test_views_asked_per_second_grow_with_connectors_not_identities(tmp_path: Path) -> None:
    site = CountingSite()
    for charger in _chargers():
        site.set(f"{charger}:1", Availability.AVAILABLE)
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}", topology="per_charger")
        async with running_uplink(settings, site, outbox, tmp_path, _chargers()) as uplink:
            await _online(uplink, csms)
            site.served = site.states = 0
            await asyncio.sleep(WINDOW_S)
            views_per_connector_per_s = site.served / WINDOW_S / CHARGERS
            states_per_connector_per_s = site.states / WINDOW_S / CHARGERS
    # Joining the whole site for each identity's loops made it 4 x 40 = 160; its own connectors
    # for each, 2 (the status report and the availability check); then the status report
    # alone, a whole view (prices, a copy) each second. Now the status report looks at the
    # connector's state only, and nothing that changed nothing asks for a view.
    assert views_per_connector_per_s == 0, views_per_connector_per_s
    assert states_per_connector_per_s <= 1.5, states_per_connector_per_s


async def test_a_change_is_reported_by_its_identity_alone_in_order(tmp_path: Path) -> None:
    """The connections wake for a change only: the connector's identity reports it, in order
    and with its fault, and the idle identities say nothing."""
    site = FakeSite()
    for charger in _chargers():
        site.set(f"{charger}:1", Availability.AVAILABLE)
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}", topology="per_charger")
        async with running_uplink(settings, site, outbox, tmp_path, _chargers()) as uplink:
            await _online(uplink, csms)
            await wait_for(lambda: _statuses(csms, "cp7") == [(0, "Available"), (1, "Available")])
            before = len(csms.record.calls)
            site.set("cp7:1", Availability.CHARGING, session_id="1")
            await wait_for(lambda: (1, "Charging") in _statuses(csms, "cp7"))
            site.set("cp7:1", Availability.FAULTED, fault_text="RCD tripped", session_id=None)
            await wait_for(lambda: (1, "Faulted") in _statuses(csms, "cp7"))
            later = csms.record.calls[before:]
    statuses = [(i, p["status"], p["errorCode"]) for i, a, p in later if a == "StatusNotification"]
    assert statuses == [("cp7", "Charging", "NoError"), ("cp7", "Faulted", "GroundFailure")]


def _statuses(csms: BenchCsms, identity: str) -> list[tuple[int, str]]:
    return [
        (p["connectorId"], p["status"])
        for i, a, p in csms.record.calls
        if i == identity and a == "StatusNotification"
    ]


async def test_a_sample_wakes_only_its_identitys_sender(tmp_path: Path) -> None:
    site = FakeSite()
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as plain:
        outbox = CountingOutbox(database_of(plain))
        outbox.reads = {}
        settings = settings_for(f"ws://127.0.0.1:{port}", topology="per_charger")
        async with running_uplink(settings, site, outbox, tmp_path, _chargers()) as uplink:
            await _online(uplink, csms)
            wakeup = uplink._ports.outbox_wakeup
            started = SessionStarted(
                1, "cp1:1", 1_795_737_600.0, 1000, IdToken("TAG1", TokenType.CARD)
            )
            await outbox.append("cp1", started)
            wakeup.set("cp1")
            await wait_for(lambda: any(a == "StartTransaction" for _, a, _ in csms.record.calls))
            before = dict(outbox.reads)
            for n in range(20):  # samples of one session, each woken at once as the daemon does
                reading = Reading(Quantity.ENERGY_IMPORT_REGISTER_WH, Decimal(1000 + n))
                sample = MeterSampled(
                    1, "cp1:1", 1_795_737_601.0 + n, ReadingContext.PERIODIC, (reading,)
                )
                await outbox.append("cp1", sample)
                wakeup.set("cp1")
                await asyncio.sleep(0.02)
            await wait_for(lambda: sum(a == "MeterValues" for _, a, _ in csms.record.calls) == 20)
            others = sum(outbox.reads.get(i, 0) - before.get(i, 0) for i in before if i != "cp1")
    # An idle sender reads its line only when woken for it: not one read per message of cp1
    # (nor, since the poll went, once a second).
    assert others == 0, others


async def test_idle_senders_read_nothing_and_a_commit_wakes_only_its_senders(
    tmp_path: Path,
) -> None:
    """Rows written by the session side in its own transactions and a parked row put back in
    line, with nobody waking a sender: the outbox's commits do, each identity's alone."""
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as plain:
        outbox = CountingOutbox(database_of(plain))
        outbox.reads = {}
        set_aside = await outbox.append("cp3", started(3, "cp3:1", 3000))
        await outbox.park(set_aside, "set aside by the operator")
        settings = settings_for(f"ws://127.0.0.1:{port}", topology="per_charger")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, _chargers()) as uplink:
            await _online(uplink, csms)
            await wait_for(lambda: all(s.sender.idle.is_set() for s in uplink.sessions.values()))
            before = sum(outbox.reads.values())
            await asyncio.sleep(WINDOW_S)
            idle_reads = sum(outbox.reads.values()) - before
            before_each = dict(outbox.reads)
            sessions = session_store(plain)
            record = await sessions.start(
                SessionStart("cp7:1", "AABBCCDD", time.time() - 60, 1000,
                             announce=announcing("cp7", "cp7:1", 1000))
            )  # fmt: skip
            for n, energy_wh in enumerate((1100, 1250)):
                at_s = time.time() - 30 + n
                sample = sampled(record.local_id, energy_wh, "cp7:1", at_s=at_s)
                queued = (EventToQueue("cp7", sample),)
                assert await sessions.sample(record.local_id, at_s, energy_wh, events=queued)
            await outbox.requeue(set_aside)
            await wait_for(lambda: len(_transaction_calls(csms, "cp7")) == 3)
            await wait_for(lambda: len(_transaction_calls(csms, "cp3")) == 1)
            woken = {i for i, n in outbox.reads.items() if n != before_each.get(i, 0)}
    # A 1 s poll read every line three times in the window: 120 reads here, 3,000 a second
    # at a thousand identities.
    assert idle_reads == 0, idle_reads
    assert woken == {"cp3", "cp7"}
    cp7 = _transaction_calls(csms, "cp7")
    assert [action for action, _ in cp7] == ["StartTransaction", "MeterValues", "MeterValues"]
    assert cp7[0][1]["connectorId"] == 1 and cp7[0][1]["meterStart"] == 1000
    (tx,) = [t for t in csms.record.transactions.values() if t["identity"] == "cp7"]
    values = [int(v["sampledValue"][0]["value"]) for v in tx["meterValues"]]
    assert values == [1100, 1250]  # in order, under the transaction id its start was given
    assert csms.record.unknown_transaction_ids == []
    assert _transaction_calls(csms, "cp3")[0][1]["meterStart"] == 3000


def _transaction_calls(csms: BenchCsms, identity: str) -> list[tuple[str, dict[str, Any]]]:
    actions = ("StartTransaction", "MeterValues", "StopTransaction")
    return [(a, p) for i, a, p in csms.record.calls if i == identity and a in actions]


async def test_the_start_up_events_of_every_identity_are_committed_together(
    tmp_path: Path,
) -> None:
    """StartupOfTheDevice of each identity goes to the outbox before it connects: appended one
    by one, each waited for its own fsync (minutes at 1,000 identities on a busy disk)."""
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as plain:
        outbox = CountingOutbox(database_of(plain))
        outbox.reads = {}
        settings = settings_for(f"ws://127.0.0.1:{port}", topology="per_charger")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, _chargers()) as uplink:
            await _online(uplink, csms)
    assert outbox.most_appending == CHARGERS


@asynccontextmanager
async def csms_process(workdir: Path, port: int | None = None) -> AsyncIterator[int]:
    """The bench CSMS in a process of its own: its memory is not counted with ours."""
    port = port or free_port()
    args = [sys.executable, "-m", "edge_controller", "csms", "--port", str(port)]
    csms = Proc("csms", [*args, "--versions", "1.6"], workdir / "csms.log")
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            await asyncio.sleep(0.05)
        yield port
    finally:
        csms.kill(signal.SIGTERM)


async def test_an_identity_s_memory_once_connected(tmp_path: Path) -> None:
    """What one more identity costs, counted (tracemalloc), not timed: at a thousand identities
    each kilobyte is a megabyte of the gateway's. About 79 kB an identity before (a bound
    method and a wrapper per action of each connection, its settings copied twice, an instance
    dict per link, a display-report queue on 1.6 identities that never report), 65 kB then;
    about 46 kB with 7 tasks instead of 13, no asyncio queue, shared defaults and loggers."""
    site = FakeSite()
    for charger in _chargers():
        site.set(f"{charger}:1", Availability.AVAILABLE)
    async with csms_process(tmp_path) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}", topology="per_charger")
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            async with running_uplink(settings, site, outbox, tmp_path, _chargers()) as uplink:
                await wait_for(lambda: all(link.accepted for link in uplink.links.values()))
                await asyncio.sleep(1.5)  # first statuses and security events sent
                gc.collect()
                per_identity = (tracemalloc.get_traced_memory()[0] - before) / CHARGERS
        finally:
            tracemalloc.stop()
    print(f"per identity: {per_identity:.0f} bytes")
    assert per_identity < 55_000, per_identity


def _alive(kind: type) -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kind))


LOGGER = type(get_logger("uplink", identity="cp"))
Counted = dict[str, float]


async def _connected_counts(tmp_path: Path) -> Counted:
    """Tasks, queues, deques and bound loggers one more connected identity keeps, wired as
    the daemon wires it (meters, limits)."""
    site = FakeSite()
    for charger in _chargers():
        site.set(f"{charger}:1", Availability.AVAILABLE)

    def count() -> Counted:
        gc.collect()
        return {
            "tasks": len(asyncio.all_tasks()),
            "queues": _alive(asyncio.Queue),
            "deques": _alive(collections.deque),
            "loggers": _alive(LOGGER),
            "headers": _alive(Headers),
            "header_fields": sum(len(o) for o in gc.get_objects() if isinstance(o, Headers)),
            "paths": _alive(PurePath),
            "connects": _alive(connect),
            "coroutines": _alive(types.CoroutineType),
            "partials": _alive(functools.partial),
        }

    async with csms_process(tmp_path) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}", topology="per_charger")
        before = count()
        wired = {"meters": FakeMeters(), "limits": FakeLimits()}
        async with running_uplink(settings, site, outbox, tmp_path, _chargers(), **wired) as up:
            await wait_for(lambda: all(link.accepted for link in up.links.values()))
            await asyncio.sleep(1.5)  # first statuses and security events sent
            after = count()
    return {kind: (after[kind] - before[kind]) / CHARGERS for kind in after}


async def test_a_connected_identity_s_tasks_and_queues(tmp_path: Path) -> None:
    """Counted, not timed: each task waiting on a connection is its frame, its task group's
    and the loop's bookkeeping (about 1.5 kB), each asyncio queue four deques (3 kB). An
    identity kept 13 tasks and 2 queues: one task each for heartbeats, statuses, follow-ups,
    the RPC worker, availability, display messages and meter samples. Now statuses and
    heartbeats share the connection's task, what the identity follows off line shares one,
    and the follow-ups and the RPC worker run only while they have work (the tests of
    TriggerMessage, Reset and GetLog show it runs). What every identity follows off line
    (availability, display messages, monitors, samples) and its smart charging were a task of
    each; each is now looked at from one task for the site, with a task only while a look has
    something to await (``uplink/follow.py``). Its reconnecting was a task that waited on
    each connection and slept between them; one task now keeps every identity's connections
    (``uplink/reconnect.py``). The websocket library's keepalive was a task on each
    connection; one task pings them all now (``uplink/keepalive.py``). The outbox sender was
    a task that waited on its identity's wake-up; it now runs only while messages are in
    line (``tests/integration/ocpp/test_sender_on_demand.py``)."""
    counted = await _connected_counts(tmp_path)
    # The connection and the reader; the uplink's own five tasks are shared.
    assert counted["tasks"] <= 2.2, counted
    assert counted["queues"] == 0, counted


async def test_an_idle_identity_keeps_no_deque_of_its_own(tmp_path: Path) -> None:
    """A deque is 760 bytes even empty (a block of 64 slots). An idle identity kept 12: four
    in each queue, one in each event of its sender, the sender's read-ahead buffer, and the
    CALL lock's waiters once two CALLs met (``uplink/turn.py`` keeps none). Left: the
    websocket library's two (received frames, writers waiting to drain); and, not the
    identity's, one in each database call still waiting for its worker thread."""
    counted = await _connected_counts(tmp_path)
    assert counted["deques"] <= 2.6, counted


async def test_an_identity_s_parts_share_its_logger(tmp_path: Path) -> None:
    """A bound logger is its object and its context (some 300 bytes). An identity bound six:
    its link, its meter samples, its display messages, its web payments, its security events
    and each connection's RPC endpoint. Now the parts share the link's, the endpoints one,
    and the security events' lines name their identity from one logger for all."""
    counted = await _connected_counts(tmp_path)
    assert counted["loggers"] <= 1.1, counted  # the link's


async def test_a_connected_identity_keeps_no_handshake_headers(tmp_path: Path) -> None:
    """Each open connection kept its opening handshake's request (its headers, some 1.5 kB
    with the request) read by nothing once open, and the response's headers (some 2 kB:
    their names, values and the lists and dicts that hold them). The response itself stays,
    its headers emptied: the websocket library's parser holds it for the connection's
    life."""
    counted = await _connected_counts(tmp_path)
    assert counted["headers"] <= 1.0, counted
    assert counted["header_fields"] <= 0.1, counted


async def test_a_connected_identity_keeps_its_files_names_as_text(tmp_path: Path) -> None:
    """A Path is about 370 bytes with its parts, its name as text 110. An identity kept six
    (its state file, key, online periods, certificates, network profiles and security log):
    some 1.5 MB at a thousand identities. Each is now made when its file is used."""
    counted = await _connected_counts(tmp_path)
    assert counted["paths"] <= 0.1, counted


async def test_a_connected_identity_keeps_the_connection_not_what_opened_it(
    tmp_path: Path,
) -> None:
    """The websocket library's connect object (the URL, the arguments, the handshake's
    settings: about 0.7 kB) stayed for the connection's life as its context manager; the
    connection it opened closes itself the same way."""
    counted = await _connected_counts(tmp_path)
    assert counted["connects"] <= 0.1, counted


async def test_a_connected_identity_keeps_no_wrapper_around_its_connection(
    tmp_path: Path,
) -> None:
    """A coroutine frame is some 250-400 bytes, a partial about 100: each connection attempt
    ran in a wrapper coroutine (17 coroutines per connected identity, 16 now) and had its end
    told through a partial, and each identity's availability was applied through one. The
    attempt now runs bare, named after its identity; one method applies them all. An idle
    sender's task held three more (14.2 per connected identity with it, 11.2 without)."""
    counted = await _connected_counts(tmp_path)
    assert counted["coroutines"] <= 12.0, counted
    assert counted["partials"] <= 0.1, counted


def _events(logged: str, event: str) -> list[dict[str, Any]]:
    found = []
    for line in logged.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("event") == event:
                found.append(entry)
    return found


async def test_an_outage_and_the_return_are_told_in_a_few_lines_not_one_per_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every identity loses the CSMS at each attempt, then connects and boots when it is back:
    40 identities wrote 40 lines of each at once (a thousand, thousands). The first few of
    each are written, the others counted in one line with the number of identities."""
    site = FakeSite()
    port = free_port()
    settings = settings_for(f"ws://127.0.0.1:{port}", topology="per_charger")
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        running_uplink(settings, site, outbox, tmp_path, _chargers()) as uplink,
    ):
        await asyncio.sleep(1.0)  # attempts of every identity to a port nobody listens on
        async with csms_process(tmp_path, port):
            await wait_for(lambda: all(link.accepted for link in uplink.links.values()))
    logged = capsys.readouterr().out
    for event in ("CSMS connection lost", "connected to CSMS", "boot accepted"):
        lines = _events(logged, event)
        written = [e for e in lines if "identity" in e]
        told = [e for e in lines if "folded_lines" in e]
        assert len(written) == FIRST_WRITTEN, (event, len(lines))
        assert len(told) == 1 and told[0]["identities"] >= CHARGERS - FIRST_WRITTEN, told
    connected = _events(logged, "connected to CSMS")
    assert len(connected) - 1 + connected[-1]["folded_lines"] == CHARGERS  # none lost count


async def test_a_failed_attempt_leaves_no_garbage_for_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed attempt kept its error in its own frame, which the error's traceback holds: a
    cycle, freed only by a collection, of the attempt's frames, tracebacks and socket (about
    7 kB of objects an attempt; 40 identities left 776 such errors in 3 s). Through an outage
    a thousand identities pile these up between collections. Counted with the collector off."""
    failed: list[str] = []
    not_opened = service._not_opened

    def counted(link: Any, *args: Any) -> None:
        failed.append(link.identity)
        not_opened(link, *args)

    monkeypatch.setattr(service, "_not_opened", counted)
    site = FakeSite()
    settings = settings_for(f"ws://127.0.0.1:{free_port()}", topology="per_charger")
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        running_uplink(settings, site, outbox, tmp_path, _chargers()),
    ):
        await asyncio.sleep(0.5)  # attempts of every identity to a port nobody listens on
        gc.collect()
        gc.disable()
        try:
            failed.clear()
            # Each identity fails twice: an error left by every failure would be 80 or more.
            await wait_for(lambda: min(map(failed.count, _chargers()), default=0) >= 2)
            errors = _alive(ConnectionRefusedError)
        finally:
            gc.enable()
    assert errors <= CHARGERS, errors  # at most an attempt's own, while it ends
