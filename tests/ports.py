"""Free TCP ports for the peers tests start, safe with parallel test processes.

A port from ``bind(port 0)`` comes from the kernel's ephemeral range, the same range outgoing
connections take their local ports from: between picking it and a server binding it, any client
on the machine (the other test process included) may take it. Ports here come from below that
range, from a block of its own for each test process, and are never handed out twice by one."""

from __future__ import annotations

import os
import random
import socket

FIRST_PORT = 20000
BLOCK_PORTS = 3000  # per test process; below the kernel's ephemeral range (32768 and up)
_given: set[int] = set()


def _block() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    start = FIRST_PORT + (index % 4) * BLOCK_PORTS
    return range(start, start + BLOCK_PORTS)


def free_port() -> int:
    """A port nothing listens on now, not given before by this process."""
    block = _block()
    for _ in range(200):
        port = random.choice(block)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {block.start}-{block.stop - 1}")
