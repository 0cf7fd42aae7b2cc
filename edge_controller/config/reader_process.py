"""Reads and checks a config file in a process of its own, for a reload of the running daemon.

The daemon's event loop must keep ticking (control loop, watchdog pings) while a new config is
read. A thread is not enough: YAML composing and model validation run long stretches of C code
that hold the interpreter lock, and a thread stuck on a hung file system can neither be stopped
nor given a memory limit. A child process can be all three: it runs
``python -m edge_controller.config.reader_process FILE``, writes its outcome to stdout
(pickled, read only by the daemon that started it), and the daemon kills it after a timeout.
Its memory is capped where the system allows it, and returned to the system when it ends.
"""

from __future__ import annotations

import contextlib
import pickle
import resource
import sys
from pathlib import Path
from typing import Any

from edge_controller import log
from edge_controller.config.load import LoadedConfig, load_config
from edge_controller.config.yaml_reader import ConfigError, ConfigIssue

MEMORY_LIMIT_BYTES = 2 << 30  # far above any config within the reader's bounds


def encode_outcome(path: Path) -> bytes:
    """The outcome of loading ``path``: a valid config or its problems."""
    outcome: tuple[Any, ...]
    try:
        outcome = ("ok", load_config(path))
    except ConfigError as exc:
        outcome = ("refused", exc.source, exc.issues)
    return pickle.dumps(outcome)


def decode_outcome(out: bytes, err: bytes, returncode: int | None, source: str) -> LoadedConfig:
    """The child's outcome; ConfigError for a refused config or a reader that failed."""
    if returncode == 0:
        outcome = pickle.loads(out)  # written by our own child, nobody else
        if outcome[0] == "ok":
            loaded: LoadedConfig = outcome[1]
            return loaded
        raise ConfigError(outcome[1], outcome[2])
    tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    reason = f"the config reader failed (exit {returncode}): {tail[0]}"
    raise ConfigError(source, [ConfigIssue("", reason)])


def main(argv: list[str]) -> int:
    # The unit's system call filter may refuse resource changes: the reading is bounded anyway.
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    log.configure("warning", "json", sys.stderr)  # stdout carries the outcome only
    sys.stdout.buffer.write(encode_outcome(Path(argv[0])))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
