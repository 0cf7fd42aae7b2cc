"""Forks crash-test children quickly: imports happen once here, not in every child.

Commands on stdin, one per line; answers on stdout:
  ``run DB EVENTS``                  fork a child running the schedule forever -> ``pid N``
  ``finish DB EVENTS STEPS``         run STEPS steps in a child, then shut down -> ``exit CODE``
  ``ocpp DB EVENTS URL``             as ``run``, with the uplink to the CSMS at URL -> ``pid N``
  ``ocpp-outage DB EVENTS URL``      as ``ocpp``, resumed after an outage long enough for the EV
                                     of a session left open to have gone -> ``pid N``
  ``ocpp-finish DB EVENTS URL STEPS`` as ``finish``, with the uplink; the outbox delivered
                                     before the orderly stop -> ``exit CODE``
  ``reap PID``                       wait for a signalled child -> ``reaped CODE``
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from tests.integration.crash import child, uplink_child


def _fork(life: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        code = 0
        try:
            life()
        except BaseException as exc:  # the child reports any failure through its exit code
            sys.stderr.write(f"child failed: {exc!r}\n")
            code = 1
        os._exit(code)
    return pid


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _life(words: list[str]) -> Callable[[], None]:
    db, events = Path(words[1]), Path(words[2])
    if words[0] == "run":
        return lambda: child.main(db, events, None)
    if words[0] == "finish":
        return lambda: child.main(db, events, int(words[3]))
    if words[0] in ("ocpp", "ocpp-outage"):
        outage = words[0] == "ocpp-outage"
        return lambda: uplink_child.main(db, events, words[3], None, outage)
    return lambda: uplink_child.main(db, events, words[3], int(words[4]))


def serve() -> None:
    out = sys.stdout
    for line in sys.stdin:
        words = line.split()
        if words[0] in ("run", "ocpp", "ocpp-outage"):
            out.write(f"pid {_fork(_life(words))}\n")
        elif words[0] in ("finish", "ocpp-finish"):
            out.write(f"exit {_wait(_fork(_life(words)))}\n")
        elif words[0] == "reap":
            out.write(f"reaped {_wait(int(words[1]))}\n")
        out.flush()


if __name__ == "__main__":
    serve()
