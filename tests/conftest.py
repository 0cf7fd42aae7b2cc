"""Fixtures every test gets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge_controller import log


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """A command run in the test's process sets the log level and stream for the process (the
    CLI's listings log errors only, to the stderr of that moment); the next test starts from the
    default again, or it would miss lines it waits for or write to a captured stream since
    closed."""
    yield
    log.configure()
