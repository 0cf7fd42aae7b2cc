"""The self-test's card read tries again when one exchange with a held card fails. PC/SC cannot
be made to fail one exchange on demand (the virtual reader answers every one), so the card read
is replaced at that library edge here, with the card staying on the reader; the whole tap runs
against pcscd in tests/integration/sim/test_selftest_demo.py, a lifted card in
tests/integration/pcsc/test_selftest_card_lifted.py."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from edge_controller.app import selftest
from edge_controller.drivers.pcsc import card_read, pcsc_io
from edge_controller.drivers.pcsc.config import ReaderConfig

CONFIG = ReaderConfig("entrance", "Virtual", False, False)


@pytest.fixture(autouse=True)
def _card_stays_on_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcsc_io, "card_present", lambda context, reader_name: True)


def _reader(failures: int, seen: list[int]) -> Any:
    def read(context: object, reader_name: str, atr: bytes, config: ReaderConfig) -> object:
        seen.append(len(seen) + 1)
        if len(seen) <= failures:
            raise card_read.CardReadError("card_io", "SCardTransmit: Transaction failed.")
        return SimpleNamespace(token=SimpleNamespace(id_tag="04A1B2C3D4E5F6"))

    return read


def test_a_read_that_fails_once_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr(card_read, "read_card", _reader(1, seen))
    uid = selftest._read_held_card(None, "Virtual 0", b"", CONFIG, time.monotonic() + 10)
    assert seen == [1, 2] and uid == "04..F6"


def test_a_card_that_cannot_be_read_fails_with_the_last_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    monkeypatch.setattr(card_read, "read_card", _reader(5, seen))
    with pytest.raises(card_read.CardReadError, match="Transaction failed"):
        selftest._read_held_card(None, "Virtual 0", b"", CONFIG, time.monotonic() + 10)
    assert seen == [1, 2, 3]
