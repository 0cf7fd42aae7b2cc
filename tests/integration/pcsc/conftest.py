"""Fixtures: the machine's one pcscd with the vpcd virtual readers (see pcscd.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.pcsc.pcscd import Pcscd, exclusive_pcscd, list_readers, wait_cards_lifted


@pytest.fixture(scope="package")
def pcscd() -> Iterator[Pcscd]:
    with exclusive_pcscd() as daemon:
        yield daemon


@pytest.fixture
def running_pcscd(pcscd: Pcscd) -> Pcscd:
    """The session's pcscd with both virtual readers, restarted if a test changed it, and
    without a card on them."""
    if pcscd.process is None or pcscd.process.poll() is not None or len(list_readers() or []) < 2:
        pcscd.restart()
    wait_cards_lifted()  # a card lifted by the previous test may not be noticed yet
    return pcscd
