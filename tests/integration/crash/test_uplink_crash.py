"""The whole path to the CSMS under orderly stops (SIGTERM while charging) and kills (SIGKILL):
every session billed once, with the Wh recorded; repeats counted and reported.

A bench CSMS process records every CALL it receives (with its unique id) across all lives.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.crash.delivery import Delivery
from tests.integration.crash.delivery201 import check_delivery_201
from tests.integration.crash.test_crash_safety import SOAK, Zygote
from tests.integration.crash.uplink_child import START_POINT_ENV, STOP_POINT_ENV, VERSION_ENV
from tests.integration.crash.uplink_run import Csms, recording_csms, run_lives

SIGTERM_CYCLES = 40 if SOAK else 12
KILL_CYCLES = 120 if SOAK else 30


@pytest.fixture
def csms(tmp_path: Path) -> Iterator[Csms]:
    with recording_csms(tmp_path) as peer:
        yield peer


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    yield z
    z.close()


@pytest.mark.integration
@pytest.mark.soak
@pytest.mark.timeout(900 if SOAK else 240)
def test_orderly_stops_while_charging_send_nothing_twice_and_lose_nothing(
    zygote: Zygote, csms: Csms, tmp_path: Path
) -> None:
    run = run_lives(zygote, tmp_path, csms, signal.SIGTERM, SIGTERM_CYCLES)
    delivery, reboots = run.delivery, run.counts.get("Reboot", 0)
    print(f"orderly stops: cycles={SIGTERM_CYCLES} reboot-closed={reboots} {delivery.report()}")
    assert run.codes == [0] * SIGTERM_CYCLES, "every orderly stop exits 0"
    assert reboots >= SIGTERM_CYCLES // 2, "the stops came while sessions were charging"
    assert delivery.duplicates == {}, delivery.report()
    assert delivery.lost_sessions == 0 and delivery.lost_wh == 0, delivery.report()
    assert delivery.meter_values_outside == 0 and delivery.resent_differently == 0
    assert delivery.sessions >= SIGTERM_CYCLES and delivery.billed_wh > 0


@pytest.mark.integration
@pytest.mark.soak
@pytest.mark.timeout(900 if SOAK else 240)
def test_kills_lose_nothing_and_repeat_at_most_what_was_in_flight(
    zygote: Zygote, csms: Csms, tmp_path: Path
) -> None:
    delivery = run_lives(zygote, tmp_path, csms, signal.SIGKILL, KILL_CYCLES).delivery
    print(f"kills: cycles={KILL_CYCLES} {delivery.report()}")
    # At-least-once: a kill can repeat the one CALL in flight, byte for byte, never more.
    assert delivery.duplicate_count <= KILL_CYCLES and delivery.resent_differently == 0
    assert delivery.lost_sessions == 0 and delivery.lost_wh == 0, delivery.report()
    assert delivery.meter_values_outside == 0
    # Every third kill is followed by an outage during which an EV left (see run_lives);
    # a session the life ended just before its kill leaves nothing open, hence the margin.
    assert (
        delivery.power_loss_sessions >= KILL_CYCLES // 6 and delivery.sessions >= KILL_CYCLES // 3
    )


def _zygote_201(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[Zygote]:
    monkeypatch.setenv(VERSION_ENV, "2.0.1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    z = Zygote()
    yield z
    z.close()


@pytest.fixture
def zygote_201(monkeypatch: pytest.MonkeyPatch) -> Iterator[Zygote]:
    """Lives that speak OCPP 2.0.1 (the bench CSMS takes the one version offered)."""
    yield from _zygote_201(monkeypatch, {})


@pytest.mark.integration
@pytest.mark.soak
@pytest.mark.timeout(900 if SOAK else 240)
def test_kills_on_201_lose_nothing_and_repeat_at_most_what_was_in_flight(
    zygote_201: Zygote, csms: Csms, tmp_path: Path
) -> None:
    run = run_lives(
        zygote_201, tmp_path, csms, signal.SIGKILL, KILL_CYCLES, check=check_delivery_201
    )
    delivery = run.delivery
    print(f"kills on 2.0.1: cycles={KILL_CYCLES} {delivery.report()}")
    # A kill can repeat the one TransactionEvent in flight, byte for byte (offline included).
    assert delivery.duplicate_count <= KILL_CYCLES and delivery.resent_differently == 0
    assert delivery.lost_sessions == 0 and delivery.lost_wh == 0, delivery.report()
    assert delivery.seq_no_gaps == 0 and delivery.meter_values_outside == 0
    assert delivery.sessions >= KILL_CYCLES // 3 and delivery.billed_wh > 0


PLUG_KILL_CYCLES = 60 if SOAK else 12


@pytest.fixture
def zygote_201_plug(monkeypatch: pytest.MonkeyPatch) -> Iterator[Zygote]:
    """Lives on OCPP 2.0.1 whose transactions start at the plug-in (TxStartPoint EVConnected)."""
    yield from _zygote_201(monkeypatch, {START_POINT_ENV: "EVConnected"})


@pytest.fixture
def zygote_201_card(monkeypatch: pytest.MonkeyPatch) -> Iterator[Zygote]:
    """Lives on OCPP 2.0.1 whose transactions start at the card, before the plug-in
    (TxStartPoint Authorized)."""
    yield from _zygote_201(monkeypatch, {START_POINT_ENV: "Authorized"})


@pytest.fixture
def zygote_201_unplug(monkeypatch: pytest.MonkeyPatch) -> Iterator[Zygote]:
    """Lives on OCPP 2.0.1 whose transactions end only when the EV leaves (TxStopPoint
    EVConnected alone)."""
    yield from _zygote_201(monkeypatch, {STOP_POINT_ENV: "EVConnected"})


def _plug_kills(zygote: Zygote, csms: Csms, tmp_path: Path, moment: str) -> Delivery:
    """Kills of which every third waits for a transaction no session runs in (``moment`` says
    which), checked for what every such run must hold: at most the one message in flight
    repeated per kill, nothing lost, one Started and one Ended per transaction, no seqNo gap."""
    run = run_lives(zygote, tmp_path, csms, signal.SIGKILL, PLUG_KILL_CYCLES,
                    check=check_delivery_201, plug_kills=True)  # fmt: skip
    delivery = run.delivery
    print(f"kills on 2.0.1 {moment}: cycles={PLUG_KILL_CYCLES}"
          f" in that moment={run.kills_while_plugged} {delivery.report()}")  # fmt: skip
    assert run.kills_while_plugged >= PLUG_KILL_CYCLES // 6, f"kills came {moment}"
    assert delivery.duplicate_count <= PLUG_KILL_CYCLES and delivery.resent_differently == 0
    assert delivery.lost_sessions == 0 and delivery.lost_wh == 0, delivery.report()
    assert delivery.seq_no_gaps == 0 and delivery.not_one_start_and_end == 0
    assert delivery.meter_values_outside == 0
    assert delivery.sessions >= PLUG_KILL_CYCLES // 3 and delivery.billed_wh > 0
    return delivery


@pytest.mark.integration
@pytest.mark.soak
@pytest.mark.timeout(900 if SOAK else 240)
def test_kills_on_201_between_the_plug_in_and_the_card_start_and_end_each_transaction_once(
    zygote_201_plug: Zygote, csms: Csms, tmp_path: Path
) -> None:
    """Kills between a plug-in's Started and the authorisation, and after it: one Started and
    one Ended per transaction, seqNo without gaps, every session billed as recorded."""
    delivery = _plug_kills(zygote_201_plug, csms, tmp_path, "between the plug-in and the card")
    # Every session joined its plug-in's transaction (the card comes after the plug-in); some
    # EVs left unauthorised while the power was off.
    assert delivery.plug_transactions == delivery.sessions + delivery.plugs_unjoined


@pytest.mark.integration
@pytest.mark.soak
@pytest.mark.timeout(900 if SOAK else 240)
def test_kills_on_201_between_the_card_and_the_plug_in_start_and_end_each_transaction_once(
    zygote_201_card: Zygote, csms: Csms, tmp_path: Path
) -> None:
    """Kills between a card's Started and the plug-in, and after it: one Started and one
    Ended per transaction, seqNo without gaps, every session billed as recorded (an
    authorisation waiting for its EV is lost with the process: its transaction ends)."""
    delivery = _plug_kills(zygote_201_card, csms, tmp_path, "between the card and the plug-in")
    # Every transaction begun at a card was joined at its plug-in or ended without a session
    # (some while the process was down); a session without one is a card at an EV already
    # plugged in (the stop card of a session a restart had ended).
    assert delivery.card_first == delivery.plug_transactions + delivery.plugs_unjoined
    assert delivery.plugs_unjoined > 0 and delivery.plug_transactions > delivery.sessions // 2
    assert delivery.billed_wh == delivery.recorded_wh


@pytest.mark.integration
@pytest.mark.soak
@pytest.mark.timeout(900 if SOAK else 240)
def test_kills_on_201_after_the_session_end_each_transaction_once_at_the_unplug(
    zygote_201_unplug: Zygote, csms: Csms, tmp_path: Path
) -> None:
    """Kills while transactions go on after their sessions (the card or a fault ended them,
    the EV still plugged in): one Started and one Ended per transaction, seqNo without gaps,
    the Ended with the session's registers, billed as recorded."""
    delivery = _plug_kills(zygote_201_unplug, csms, tmp_path, "while going on after the session")
    assert delivery.after_session > 0
    assert delivery.billed_wh == delivery.recorded_wh
