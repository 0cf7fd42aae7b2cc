"""A reader's error history: newest first, timed by the reader's clock, counted by kind (its
bound: ``tests/unit/domain/test_device_errors.py``); PC/SC failures get their own kinds, a
reader leaving pcscd's list and pcscd's outage one event each."""

from __future__ import annotations

import pytest
from smartcard import scard

from edge_controller.domain.snapshot import ErrorEvent
from edge_controller.drivers.pcsc import pcsc_io
from edge_controller.drivers.pcsc.config import ReaderConfig
from edge_controller.drivers.pcsc.monitor import PcscMonitor, pcsc_failure
from edge_controller.drivers.pcsc.stats import ReaderStats


def test_a_readers_errors_are_timed_by_its_clock_kept_newest_first_and_counted() -> None:
    now_s = [1000.0]
    stats = ReaderStats(["r1", "r2"], clock=lambda: now_s[0])
    stats.set_available("r1", "Virtual PCD 00 00")
    for n in range(5):
        now_s[0] += 1.0
        stats.count_error("r1", "card_io" if n % 2 else "uid_failed", f"error {n}")
    history = stats.error_histories()
    assert history["r2"] == ()
    assert history["r1"][0] == ErrorEvent(1005.0, "uid_failed", "error 4")
    assert [e.message for e in history["r1"]] == [f"error {n}" for n in range(4, -1, -1)]
    (view,) = stats.views()
    assert view.errors == {"uid_failed": 3, "card_io": 2}


def test_pcscd_gone_and_other_pcsc_failures_are_told_apart() -> None:
    gone = pcsc_io.ServiceGone("SCardEstablishContext", scard.SCARD_E_NO_SERVICE)
    kind, message = pcsc_failure(gone)
    assert kind == "pcscd_unreachable"
    assert message.startswith("pcscd unreachable: SCardEstablishContext: ")
    other = pcsc_io.PcscError("SCardListReaders", scard.SCARD_E_NO_MEMORY)
    assert pcsc_failure(other)[0] == "pcsc_error"


def test_a_reader_leaving_pcscds_list_and_pcscd_gone_are_each_one_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Library edge: pcscd's virtual reader cannot leave the list while pcscd runs (only a
    # restart without it removes it), so the reader list is what pcsc_io answers here.
    listed = [["Virtual PCD 00 00"], [], []]
    monkeypatch.setattr(pcsc_io, "list_readers", lambda _context: listed.pop(0))
    monkeypatch.setattr(pcsc_io, "wait_change", lambda _context, _states, _timeout_ms: True)
    stats = ReaderStats(["r1"], clock=lambda: 1000.0)
    monitor = PcscMonitor([ReaderConfig("r1", "Virtual PCD")], lambda _token: None, stats)
    monitor._bind(None)  # bound
    monitor._bind(None)  # gone from the list
    monitor._bind(None)  # still gone: nothing new
    gone = pcsc_io.ServiceGone("SCardGetStatusChange", scard.SCARD_E_NO_SERVICE)
    for _ in range(3):  # reconnection attempts during one outage
        monitor._lose_all(gone)
    kinds = [e.kind for e in stats.error_histories()["r1"]]
    assert kinds == ["pcscd_unreachable", "reader_gone"]
    assert stats.error_histories()["r1"][1].message == (
        "reader gone: pcscd no longer lists 'Virtual PCD 00 00'"
    )
