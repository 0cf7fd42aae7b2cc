"""What a simulated RS-485 device hears: only frames sent at the baud it is set to.

On a real line a device set to 9600 baud hears a 19200-baud request as noise and stays silent.
A pty carries bytes whatever its speed, so the simulator looks at the speed the controller set
on its end of the pair (termios settings belong to the terminal, not to one open file) and
answers only the units set to that baud. Parity cannot be told apart: Linux ignores PARENB on a
pty, so a device answers at any parity.
"""

from __future__ import annotations

import os
import termios

_SPEEDS = {
    getattr(termios, f"B{baud}"): baud
    for baud in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
}


class LineSense:
    """The controller side of one pty line, held open to read its speed."""

    def __init__(self, controller_side: str, bus_baud: int, unit_bauds: dict[int, int]) -> None:
        self._fd: int | None = os.open(controller_side, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.bus_baud = bus_baud
        self.unit_bauds = unit_bauds

    def baud(self) -> int | None:
        """The controller's baud now (None if it is not a standard one, or the line is gone)."""
        if self._fd is None:
            return None
        try:
            speed = termios.tcgetattr(self._fd)[4]
        except termios.error:
            return None
        return _SPEEDS.get(speed)

    def hears(self, unit_id: int) -> bool:
        return self.baud() == self.unit_bauds.get(unit_id, self.bus_baud)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
