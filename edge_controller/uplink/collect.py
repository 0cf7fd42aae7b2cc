"""One run of the cyclic garbage collector shortly after connections were lost, for all those
lost meanwhile.

A lost connection's objects (its websocket, session, endpoint, sender, task groups, and the
exception that ended it with its traceback) hold each other in cycles: reference counting alone
never frees them, only a run of the collector over the generation they are in. A connection
open for minutes is in the oldest generation, which the automatic runs seldom walk. At a
thousand identities, all lost at once when the CSMS goes away, that is some 10 MB kept through
the outage; the connections made again when it is back then took new memory beside it, and the
gateway's RSS stayed that much higher (what was freed later lay scattered among live objects).
Collected before the reconnect, the new connections take that memory again.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

COLLECT_AFTER_S = 0.2  # connections lost within this (an outage: all at once) share one run
MIN_GAP_S = 30.0  # between two runs: a connection lost over and over costs one run a gap
HELD_RETRY_S = 0.5  # the collector held off (an overload being answered): tried again after


class LossCollector:
    def __init__(
        self,
        collect: Callable[[], object] = gc.collect,
        *,
        after_s: float = COLLECT_AFTER_S,
        gap_s: float = MIN_GAP_S,
    ) -> None:
        self._collect = collect
        self._after_s, self._gap_s = after_s, gap_s
        self._timer: asyncio.TimerHandle | None = None
        self._last_s: float | None = None  # the loop's time of the last run

    def lost(self) -> None:
        """A connection that was open has ended: its objects are collected soon."""
        if self._timer is not None:
            return  # the run already due takes this one too
        loop = asyncio.get_running_loop()
        at_s = loop.time() + self._after_s
        if self._last_s is not None:
            at_s = max(at_s, self._last_s + self._gap_s)
        self._timer = loop.call_at(at_s, self._run)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _run(self) -> None:
        loop = asyncio.get_running_loop()
        if not gc.isenabled():
            # Held off while an overload is answered (``services.control.reaction``): a run
            # now would delay the lowered setpoints.
            self._timer = loop.call_later(HELD_RETRY_S, self._run)
            return
        self._timer = None
        self._last_s = loop.time()
        self._collect()
