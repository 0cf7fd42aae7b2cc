from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_controller.storage.database import Database


class FakeClock:
    """A settable clock: storage reads time only through the callable it is given."""

    def __init__(self, now_s: float = 1_700_000_000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "state" / "edge.db")
    yield database
    await database.close()
