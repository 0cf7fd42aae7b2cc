from __future__ import annotations

import pytest

from edge_controller.domain.commands import StopReason
from edge_controller.domain.model import Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.events import ReadingContext, SessionEnded
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.sessions_store import (
    EventToQueue,
    SessionAlreadyOpen,
    SessionStart,
    SessionStore,
)
from tests.outbox_events import T0_S, announcing, ending, sampled, started

START = announcing("cp", "cp:1", meter_wh=100)


async def test_session_lifecycle_with_messages(db: Database) -> None:
    store, outbox = SessionStore(db), Outbox(db)
    record = await store.start(SessionStart("cp:1", "TAG", 10.0, 100, announce=START))
    assert record.open and record.meter_start_wh == 100
    sample = EventToQueue("cp", sampled(record.local_id, 180, "cp:1", at_s=20.0))
    assert await store.sample(record.local_id, 20.0, 180, power_w=7000.0, events=(sample,))
    stop = ending("cp", record.local_id, "cp:1")
    closed, changed = await store.stop(record.local_id, 30.0, 250, "Local", render=stop)
    assert changed and closed.meter_stop_wh == 250 and closed.energy_wh == 150
    again, changed_again = await store.stop(record.local_id, 40.0, 999, "Other", render=stop)
    assert not changed_again and again.meter_stop_wh == 250 and again.stop_reason == "Local"
    assert not await store.sample(record.local_id, 50.0, 300)
    contexts = [v.context for v in await store.meter_values(record.local_id)]
    assert contexts == [ReadingContext.BEGIN, ReadingContext.PERIODIC, ReadingContext.END]
    events = []
    while (msg := await outbox.peek("cp")) is not None:
        assert msg.session_local_id == record.local_id
        events.append(msg.event)
        await outbox.ack(msg.seq)
    assert events == [started(record.local_id, "cp:1", 100), sample.event,
                      SessionEnded(record.local_id, "cp:1", 30.0, 250, StopReason.LOCAL,
                                   T0_S, 1000)]  # fmt: skip


async def test_a_power_loss_stop_is_the_last_register_at_its_time(db: Database) -> None:
    store, outbox = SessionStore(db), Outbox(db)
    record = await store.start(SessionStart("cp:1", "TAG", 10.0, 100))
    assert await store.sample(record.local_id, 20.0, 180)
    assert await store.sample(record.local_id, 25.0, 175)  # a glitch: the register stays
    values = EventToQueue("cp", sampled(record.local_id, 1, "cp:1", at_s=26.0))
    assert await store.sample(record.local_id, 26.0, None, events=(values,))  # no register
    kept = await store.get(record.local_id)
    assert kept is not None and (kept.last_meter_wh, kept.last_meter_at_s) == (180, 25.0)

    render = ending("cp", record.local_id, "cp:1")
    closed, changed = await store.stop(record.local_id, 500.0, 100, "PowerLoss",
                                       last_known=True, render=render)  # fmt: skip
    assert changed and (closed.stop_at_s, closed.meter_stop_wh) == (25.0, 180)
    queued = await outbox.peek_many("cp", limit=10)
    last = queued[-1].event
    assert isinstance(last, SessionEnded) and (last.at_s, last.stop_register_wh) == (25.0, 180)


async def test_a_stop_is_never_before_nor_below_the_last_sample(db: Database) -> None:
    store = SessionStore(db)
    record = await store.start(SessionStart("cp:1", "TAG", 10.0, 100))
    assert await store.sample(record.local_id, 40.0, 300)
    assert not await store.sample(record.local_id, 9.0, 310)  # before the start: not its
    closed, _ = await store.stop(record.local_id, 35.0, 250, "Local")
    assert (closed.stop_at_s, closed.meter_stop_wh) == (40.0, 300)


async def test_one_open_session_per_connector(db: Database) -> None:
    store, outbox = SessionStore(db), Outbox(db)
    await store.start(SessionStart("cp:1", "A", 1.0, 0))
    with pytest.raises(SessionAlreadyOpen):
        await store.start(SessionStart("cp:1", "B", 2.0, 0, announce=START))
    assert await outbox.backlog() == 0  # the refused start queued nothing
    assert [s.id_tag for s in await store.open_sessions()] == ["A"]


async def test_remote_transaction_id_shows_on_sessions(db: Database) -> None:
    store = SessionStore(db)
    record = await store.start(SessionStart("cp:1", "A", 1.0, 0))
    await Outbox(db).set_remote_transaction_id(record.local_id, 77)
    fetched = await store.get(record.local_id)
    assert fetched is not None and fetched.remote_transaction_id == 77
    assert await store.get(999) is None


async def test_local_list_full_and_differential_updates(db: Database) -> None:
    store = AuthStore(db)
    assert await store.local_list_version() == 0
    await store.replace_local_list(
        3, [AuthEntry("AA", AuthStatus.ACCEPTED), AuthEntry("BB", AuthStatus.BLOCKED)]
    )
    await store.update_local_list(4, [AuthEntry("CC", AuthStatus.ACCEPTED, 99.0, "G")], ["AA"])
    assert await store.local_list_version() == 4
    assert [e.id_tag for e in await store.local_list()] == ["BB", "CC"]
    assert await store.local_entry("cc") == AuthEntry("CC", AuthStatus.ACCEPTED, 99.0, "G")
    await store.replace_local_list(5, [])
    assert await store.local_list() == [] and await store.local_list_version() == 5


async def test_cache_put_prune_clear(db: Database) -> None:
    store = AuthStore(db)
    await store.cache_put(AuthEntry("AA", AuthStatus.ACCEPTED, expiry_at_s=100.0), now_s=50.0)
    await store.cache_put(AuthEntry("BB", AuthStatus.ACCEPTED), now_s=50.0)
    assert await store.cache_prune(now_s=150.0) == 1
    assert await store.cached("AA") is None
    assert await store.cached("BB") is not None
    assert await store.cache_clear() == 1


async def test_a_key_code_and_a_card_of_the_same_text_are_two_entries(db: Database) -> None:
    store = AuthStore(db)
    code = AuthEntry("1234", AuthStatus.ACCEPTED, token_type="KeyCode")
    card = AuthEntry("1234", AuthStatus.BLOCKED, token_type="ISO14443")
    await store.replace_local_list(1, [code, card])
    assert await store.local_entry("1234", key_code=True) == code
    assert await store.local_entry("1234") == card
    await store.update_local_list(2, [], [("1234", "ISO14443")])
    assert await store.local_entry("1234") is None  # the key code is no card's entry
    assert await store.local_list() == [code]
    await store.update_local_list(3, [AuthEntry("1234", AuthStatus.ACCEPTED)], ["1234"])
    assert await store.local_list() == []  # a 1.6 removal names the value: every type goes


async def test_the_cache_keeps_a_key_codes_answer_apart_from_a_cards(db: Database) -> None:
    store = AuthStore(db)
    await store.cache_put(AuthEntry("1234", AuthStatus.ACCEPTED, token_type="KeyCode"), 1.0)
    assert await store.cached("1234") is None
    assert await store.cached_for(Token("1234", extra={"source": "uid"})) is None
    await store.cache_put(AuthEntry("1234", AuthStatus.INVALID, token_type="ISO14443"), 2.0)
    await store.cache_put(AuthEntry("1234", AuthStatus.BLOCKED, token_type="KeyCode"), 3.0)
    found = await store.cached("1234", key_code=True)
    assert found is not None and found.status is AuthStatus.BLOCKED
    card = await store.cached("1234")
    assert card is not None and card.status is AuthStatus.INVALID
