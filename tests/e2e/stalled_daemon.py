"""``python -m tests.e2e.stalled_daemon BLOCK_S PERIOD_S ARGS...``: the daemon (``edge_controller
ARGS...``) with its event loop blocked for ``BLOCK_S`` every ``PERIOD_S``, as a slow callback or
a busy machine would: its pollers and steps then run late, beside each other."""

from __future__ import annotations

import asyncio
import sys
import time

from edge_controller.cli import main


class _Stalling(asyncio.DefaultEventLoopPolicy):
    def __init__(self, block_s: float, period_s: float) -> None:
        super().__init__()
        self.block_s, self.period_s = block_s, period_s

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()

        def stall() -> None:
            time.sleep(self.block_s)  # blocks the loop on purpose
            loop.call_later(self.period_s - self.block_s, stall)

        loop.call_soon(stall)
        return loop


if __name__ == "__main__":
    block_s, period_s = float(sys.argv[1]), float(sys.argv[2])
    asyncio.set_event_loop_policy(_Stalling(block_s, period_s))
    sys.argv = [sys.argv[0], *sys.argv[3:]]
    raise SystemExit(main())
