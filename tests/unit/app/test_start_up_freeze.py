"""Start-up leaves what it built out of the collector's generations."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
from collections.abc import Iterator

import pytest

from edge_controller.app.daemon import YOUNG_COLLECTION_THRESHOLD, Service, run_daemon
from edge_controller.config.settings import Settings
from edge_controller.systemd import Notifier


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()  # the other tests run as before
    gc.set_threshold(*thresholds)


class _Probe:
    """A service that notes how many objects were frozen when it started, then stops the
    daemon as SIGTERM does."""

    def __init__(self, built: list[object]) -> None:
        self.built = built
        self.frozen_at_start = -1
        self.built_collectable = True
        self.young_threshold = 0

    async def run(self) -> None:
        self.frozen_at_start = gc.get_freeze_count()
        self.young_threshold = gc.get_threshold()[0]
        self.built_collectable = any(seen is self.built for seen in gc.get_objects())
        os.kill(os.getpid(), signal.SIGTERM)


async def test_what_start_up_built_is_frozen_before_the_services_run(unfrozen: None) -> None:
    probe = _Probe([object()])  # (the list is tracked by the collector)

    async def build(
        settings: Settings, notifier: Notifier, stack: contextlib.AsyncExitStack
    ) -> list[Service]:
        return [probe]

    settings = Settings.model_validate({"site": {"id": "freeze", "grid_limit_a": 63.0}})
    await run_daemon(settings, None, Notifier(""), build)
    assert probe.frozen_at_start > 0
    assert not probe.built_collectable  # built at start-up: no collection walks it again
    assert probe.young_threshold == YOUNG_COLLECTION_THRESHOLD  # above a decision's burst
