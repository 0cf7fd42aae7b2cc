"""The demo's terminal: a live view command's frames with the demo day's latest lines below.

    python -m edge_controller.sim.demo_view --log FILE -- edge-controller status --watch ...

The view command clears the screen for each frame; this appends the last lines of ``--log``
under every frame. On a terminal it takes the foreground, so Ctrl-C reaches the view (and its
command) only, and ``scripts/demo.sh`` then stops the rest in order; it hands the terminal back
when it ends. Exit 0 on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

FRAME_QUIET_S = 0.05  # a frame is complete when its writer pauses this long


class Stop(Exception):
    """SIGTERM: end the view."""


def _raise_stop(_sig: int, _frame: FrameType | None) -> None:
    raise Stop


def tail_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of ``path`` (none if it does not exist yet)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-count:] if count > 0 else []


def compose(frame: str, log_lines: Sequence[str], title: str, columns: int, rows: int) -> str:
    """A frame with as many of the latest log lines under it as fit ``rows`` (one row stays
    free for the cursor, or the frame's first line would scroll away), cut to ``columns``."""
    room = rows - 1 - (frame.rstrip("\n").count("\n") + 1) - 2  # a blank line and the title
    tail = [title, *log_lines[-room:]] if room > 0 else []
    text = frame.rstrip("\n") + (
        "\n\n" + "\n".join(line[:columns] for line in tail) if tail else ""
    )
    return text + "\n"


@contextlib.contextmanager
def foreground() -> Iterator[None]:
    """Own the controlling terminal's foreground while the block runs (no-op without one)."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        yield
        return
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # tcsetpgrp from a background group
    previous: int | None = None
    try:
        previous = os.tcgetpgrp(tty)
        os.setpgid(0, 0)
        os.tcsetpgrp(tty, os.getpgrp())
    except OSError:
        previous = None  # cannot take it: stay where we are
    try:
        yield
    finally:
        if previous is not None:
            with contextlib.suppress(OSError):  # the old group may be gone already
                os.tcsetpgrp(tty, previous)
        signal.signal(signal.SIGTTOU, old)
        os.close(tty)


def _pump(process: subprocess.Popen[bytes], log: Path, title: str) -> None:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            selector.select()
            chunks = []
            while selector.select(FRAME_QUIET_S):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
            if not chunks:
                return  # the view command ended
            frame = b"".join(chunks).decode("utf-8", errors="replace")
            columns, rows = shutil.get_terminal_size()
            shown = compose(frame, tail_lines(log, rows), title, columns, rows)
            sys.stdout.write(shown)
            sys.stdout.flush()


def run_view(command: Sequence[str], log: Path) -> int:
    title = f"--- demo day (full log: {log}) ---"
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    with foreground():
        process = subprocess.Popen(command, stdout=subprocess.PIPE)
        try:
            _pump(process, log, title)
        except (KeyboardInterrupt, Stop):
            pass  # Ctrl-C reached the command too; SIGTERM: end it below
        finally:
            # A second stop request while the view ends must not break the clean-up.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if process.poll() is None:
                process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            if process.poll() is None:
                process.kill()
                process.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_controller.sim.demo_view")
    parser.add_argument("--log", type=Path, required=True, help="file whose tail is shown")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the live view command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the live view command after --")
    return run_view(command, args.log)


if __name__ == "__main__":
    sys.exit(main())
