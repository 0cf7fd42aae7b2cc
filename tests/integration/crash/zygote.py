"""Forks crash-test children quickly: imports happen once here, not in every child.

Commands on stdin, one per line; answers on stdout:
  ``run DB EVENTS``          fork a child running the schedule forever -> ``pid N``
  ``finish DB EVENTS STEPS`` run STEPS steps in a child, then shut down -> ``exit CODE``
  ``reap PID``               wait for a killed child                   -> ``reaped PID``
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.integration.crash import child


def _fork(db: str, events: str, steps: int | None) -> int:
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        code = 0
        try:
            child.main(Path(db), Path(events), steps)
        except BaseException as exc:  # the child reports any failure through its exit code
            sys.stderr.write(f"child failed: {exc!r}\n")
            code = 1
        os._exit(code)
    return pid


def serve() -> None:
    out = sys.stdout
    for line in sys.stdin:
        words = line.split()
        if words[0] == "run":
            out.write(f"pid {_fork(words[1], words[2], None)}\n")
        elif words[0] == "finish":
            pid = _fork(words[1], words[2], int(words[3]))
            _, status = os.waitpid(pid, 0)
            out.write(f"exit {os.waitstatus_to_exitcode(status)}\n")
        elif words[0] == "reap":
            os.waitpid(int(words[1]), 0)
            out.write(f"reaped {words[1]}\n")
        out.flush()


if __name__ == "__main__":
    serve()
