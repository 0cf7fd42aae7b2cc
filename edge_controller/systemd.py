"""sd_notify without libsystemd: READY, WATCHDOG and STOPPING over $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import time


class Notifier:
    """Sends notifications when run by systemd (Type=notify); does nothing otherwise."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._address = "\0" + address[1:] if address and address.startswith("@") else address
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never block the event loop on a full queue: a dropped ping is better than a hang.
            self._socket.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, message: str) -> bool:
        if self._socket is None or self._address is None:
            return False
        try:
            self._socket.sendto(message.encode(), self._address)
        except OSError:
            return False  # queue full (BlockingIOError) or systemd gone: nothing to tell now
        return True

    def ready(self, status: str = "running") -> bool:
        return self.notify(f"READY=1\nSTATUS={status}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def ping_watchdog(self) -> None:
        """The control loop's tick callback: a loop that stops ticking gets restarted."""
        self.watchdog()

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd (Type=notify-reload) tell this reload from an earlier one.
        return self.notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
