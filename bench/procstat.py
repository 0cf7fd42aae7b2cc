"""A process's CPU time, memory and open files from /proc, for benchmarks of real processes."""

from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def status_mb(pid: int, key: str) -> float:
    """A size line of /proc/PID/status (VmRSS, VmHWM...) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class CpuWindow:
    """CPU a process used since this was made (wall time from the caller's clock)."""

    def __init__(self, pid: int, now_s: float) -> None:
        self.pid = pid
        self._cpu0, self._wall0 = cpu_s(pid), now_s

    def share(self, now_s: float) -> float:
        wall_s = max(1e-9, now_s - self._wall0)
        return (cpu_s(self.pid) - self._cpu0) / wall_s

    def used_s(self) -> float:
        return cpu_s(self.pid) - self._cpu0
