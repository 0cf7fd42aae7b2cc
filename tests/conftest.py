"""Fixtures every test gets."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from edge_controller import log

# No time limit per generated example: this machine is shared, and speed is measured by the
# benchmarks, never by a test (one example over Hypothesis's default 200 ms failed a run).
# `make test` draws the same examples every run, so a red run means a change broke something;
# `make explore` (HYPOTHESIS_PROFILE=explore) draws new ones, 1,000 where a test sets no count.
settings.register_profile("edge_controller", deadline=None, derandomize=True)
settings.register_profile("explore", deadline=None, max_examples=1000, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "edge_controller"))
SLOW_TESTS = Path(__file__).with_name("slow_tests.txt")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The known-slow tests first, longest first (slow_tests.txt), the others in their order:
    with two test processes, the one left with a long test at the end runs alone meanwhile."""
    lines = SLOW_TESTS.read_text(encoding="utf-8").splitlines()
    names = [line for line in lines if line and not line.startswith("#")]
    rank = {name: index for index, name in enumerate(names)}
    items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """A command run in the test's process sets the log level and stream for the process (the
    CLI's listings log errors only, to the stderr of that moment); the next test starts from the
    default again, or it would miss lines it waits for or write to a captured stream since
    closed."""
    yield
    log.configure()


@pytest.fixture(autouse=True)
def _collector_enabled() -> Iterator[None]:
    """A control loop holds the garbage collector from an overloading reading until a step has
    answered it; a test that ends in between leaves it held, and the next test starts with it
    running again."""
    yield
    gc.enable()
