"""Config reading under hostile input: `check-config` time and peak memory per file, and how
long the daemon's event loop stops while a SIGHUP reload reads the worst of them.

Each `check-config` runs in a child process of its own that reports its wall time and peak
resident memory (ru_maxrss, imports included: a trivial file is the baseline row). The reload
row runs the real daemon with a 0.1 s control tick and a notify socket: the longest silence
between two watchdog pings while the reload runs (RELOADING=1 to READY=1) is the time the
loop was held up; the same figure outside reloads is the baseline on this machine.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHECK_TIMEOUT_S = float(os.environ.get("BENCH_CONFIG_TIMEOUT_S", "300"))
_MEASURE = """
import json, resource, sys, time
from edge_controller import cli
started = time.perf_counter()
code = cli.main(["check-config", sys.argv[1]])
took_s = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"exit": code, "s": took_s, "peak_mb": peak_mb}), file=sys.stderr)
"""


def alias_bomb(levels: int) -> str:
    lines = ["site: {id: s, grid_limit_a: 32}", f"x0: &a0 [{', '.join(['lol'] * 9)}]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def largest_accepted() -> str:
    """A valid config near both limits: about 1 MB and 200,000 values (building-load steps)."""
    steps = "".join(
        f'    - {{at: "{n // 60 % 24:02d}:{n % 60:02d}", current_a: [{n % 40}, 1.5, 2]}}\n'
        for n in range(21_000)
    )
    return "site: {id: s, grid_limit_a: 32}\nsimulation:\n  base_load:\n" + steps


def files(work: Path) -> dict[str, Path]:
    out = {
        "trivial": "site: {id: s, grid_limit_a: 32}\n",
        "alias bomb, 6 levels": alias_bomb(6),
        "alias bomb, 8 levels": alias_bomb(8),
        "20,000 levels of nesting": "site: {id: s}\nx: " + "[" * 20_000 + "]" * 20_000 + "\n",
        "4,400-digit integer": "site: {id: s, grid_limit_a: " + "9" * 4400 + "}\n",
        "largest accepted (1 MB, 190,000 values)": largest_accepted(),
    }
    paths = {}
    for name, text in out.items():
        paths[name] = work / f"{len(paths)}.yaml"
        paths[name].write_text(text)
    big = work / "comments.yaml"
    with big.open("w") as f:
        f.write("site: {id: s, grid_limit_a: 32}\n")
        line = "# " + "x" * 97 + "\n"
        for _ in range(50 * 1024 * 1024 // len(line)):
            f.write(line)
    paths["50 MB of comments"] = big
    return paths


def check_config(path: Path) -> dict[str, Any]:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(path)],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        never = f">{CHECK_TIMEOUT_S:g}"
        return {"exit": None, "s": never, "process_s": never, "peak_mb": None}
    process_s = round(time.monotonic() - started, 3)
    result: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
    return {
        "exit": result["exit"],
        "s": round(result["s"], 3),
        "process_s": process_s,
        "peak_mb": round(result["peak_mb"]),
    }


class _Notify:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.seen: list[tuple[float, str]] = []

    def until(self, text: str | None, timeout_s: float) -> None:
        """Receive (the daemon drops what a full socket queue cannot take) until ``text``
        arrives, or for ``timeout_s`` when ``text`` is None."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                self.seen.append((time.monotonic(), self.sock.recv(4096).decode()))
            except TimeoutError:
                continue
            if text is not None and text in self.seen[-1][1]:
                return
        if text is not None:
            raise RuntimeError(f"no {text} within {timeout_s:g} s")


def _max_gap_s(times: list[float]) -> float:
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def reload_block(parent: Path, worst: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(dir=parent))
    config = work / "daemon.yaml"
    good = f"site: {{id: s, grid_limit_a: 32, tick_s: 0.1}}\nstorage: {{state_dir: {work}/st}}\n"
    config.write_text(good)
    notify = _Notify(work / "notify.sock")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CONTROLLER__")}
    env["NOTIFY_SOCKET"] = str(work / "notify.sock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_controller", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        notify.until("READY=1", 60)
        notify.until(None, 3.0)  # steady ticking: the baseline
        config.write_bytes(worst.read_bytes())
        start = len(notify.seen)
        proc.send_signal(signal.SIGHUP)
        notify.until("RELOADING=1", 60)
        try:
            notify.until("READY=1", CHECK_TIMEOUT_S)
        except RuntimeError:
            return {"reload_s": f">{CHECK_TIMEOUT_S:g}", "note": "no READY=1 (loop blocked?)"}
        during = notify.seen[start:]
        pings = [t for t, m in notify.seen[: start - 1] if "WATCHDOG=1" in m]
        reload_pings = [t for t, m in during if "WATCHDOG=1" in m or "RELOADING" in m]
        reload_pings.append(during[-1][0])  # READY=1 ends the window
        return {
            "reload_s": round(during[-1][0] - during[0][0], 3),
            "max_watchdog_gap_during_reload_s": round(_max_gap_s(reload_pings), 3),
            "max_watchdog_gap_before_s": round(_max_gap_s(pings[-25:]), 3),
        }
    finally:
        proc.kill()  # a loop blocked by a reload would not stop on SIGTERM
        proc.wait(timeout=30)
        notify.sock.close()


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-config-") as tmp:
        work = Path(tmp)
        paths = files(work)
        for name, path in paths.items():
            size = path.stat().st_size
            rows.append({"case": f"check-config: {name}", "bytes": size, **check_config(path)})
        reloads = ("alias bomb, 8 levels", "50 MB of comments", "largest accepted")
        for name in (n for n in paths if n.startswith(reloads)):
            rows.append({"case": f"SIGHUP reload: {name}", **reload_block(work, paths[name])})
    return rows
