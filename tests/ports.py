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
    return free_ports(1)


def free_ports(count: int, host: str = "127.0.0.1") -> int:
    """The first of ``count`` consecutive ports nothing listens on now (on ``host``; "0.0.0.0"
    for a server that binds every address), none of them given before by this process."""
    block = _block()
    for _ in range(200):
        first = random.choice(range(block.start, block.stop - count + 1))
        ports = range(first, first + count)
        if _given.intersection(ports) or not all(_bindable(host, port) for port in ports):
            continue
        _given.update(ports)
        return first
    raise RuntimeError(f"no {count} free ports in a row in {block.start}-{block.stop - 1}")


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
