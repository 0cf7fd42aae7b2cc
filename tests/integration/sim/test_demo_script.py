"""`make run` (scripts/demo.sh): when a part of the demo dies, the demo says which and where its
log is, stops everything else and exits 1, instead of going on with a view of nothing.

The whole demo runs here (simulator, mosquitto, daemon, demo day with the bench CSMS, view),
without the card reader (the machine's one pcscd belongs to the PC/SC tests)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from edge_controller.web.i18n import text

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ROOT = Path(__file__).parents[3]
PARTS = ("daemon", "sim", "day", "mosquitto", "view")
# The demo takes its default ports when it finds them free: two demos started at once (test
# processes of make test, other runs on the machine) could both find one free, then both bind it.
DEMO_LOCK_PATH = Path("/tmp/edge-controller-demo-test.lock")


@pytest.fixture(autouse=True)
def _one_demo_at_a_time() -> Iterator[None]:
    with DEMO_LOCK_PATH.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(path: Path, text: str, within_s: float, demo: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + within_s
    while text not in path.read_text(errors="replace"):
        assert demo.poll() is None, path.read_text(errors="replace")
        assert time.monotonic() < deadline, f"no {text!r} within {within_s} s"
        time.sleep(0.2)


@contextlib.contextmanager
def _demo(tmp_path: Path, **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """`make run` without the card reader, with ``settings`` (DEMO_* variables), in its own
    process group: (the script, its state folder, its stderr file); stopped at the end if it
    still runs."""
    state = tmp_path / "state"
    err = tmp_path / "demo.err"
    env = os.environ | {"DEMO_STATE_DIR": str(state), "DEMO_RFID": "off"} | settings
    env = {k: v for k, v in env.items() if not k.startswith("EDGE_CONTROLLER__")}
    with err.open("wb") as err_file:
        demo = subprocess.Popen(
            ["bash", str(ROOT / "scripts/demo.sh")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            start_new_session=True,
        )
    try:
        yield demo, state, err
    finally:
        if demo.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=60)


def _display_answers(said: str) -> None:
    """The display URL the demo prints serves the demo site's page."""
    url = re.search(r"site display: (http://\S+/display)", said)
    assert url is not None, said
    with urllib.request.urlopen(url[1], timeout=10) as response:
        page = response.read().decode()
    assert "Charging at demo-site" in page and 'data-connector="keba:1"' in page, page


def _console_answers(said: str) -> None:
    """The console URL the demo prints takes the login it prints and shows the demo site."""
    found = re.search(r"operator console: (http://\S+/console) \(user (\w+), password (\S+);", said)
    assert found is not None, said
    url, user, password = found[1], found[2], found[3]
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(f"{url}/login", timeout=10) as response:
        csrf = re.search(r'name="csrf" value="([^"]+)"', response.read().decode())
    assert csrf is not None
    form = urllib.parse.urlencode({"user": user, "password": password, "csrf": csrf[1]})
    origin = url.removesuffix("/console")
    request = urllib.request.Request(f"{url}/login", form.encode(), {"Origin": origin})
    with opener.open(request, timeout=10) as response:  # 303 to /console, followed
        page = response.read().decode()
    assert response.url == url and "Console: demo-site" in page and "ops (operator)" in page


@pytest.mark.parametrize("victim", ["daemon", "sim"])
def test_a_dead_part_stops_the_demo_loudly(tmp_path: Path, victim: str) -> None:
    with _demo(tmp_path) as (demo, state, err):
        _wait_for(err, "site display: ", 120, demo)
        _display_answers(err.read_text(errors="replace"))
        _console_answers(err.read_text(errors="replace"))
        pids = {name: int((state / f"{name}.pid").read_text()) for name in PARTS}
        os.kill(pids[victim], signal.SIGKILL)
        assert demo.wait(timeout=90) == 1
        said = err.read_text(errors="replace")
        assert f"the {victim} process STOPPED (killed by signal 9)" in said
        assert f"its log: {state}/{victim}.log" in said
        assert said.rstrip().endswith(
            f"failed: the {victim} process stopped (log: {state}/{victim}.log)"
        )
        left = [name for name, pid in pids.items() if _alive(pid)]
        assert left == [], f"still running: {left}"


def _csms_calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    lines = log.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def _started_on_201(log: Path) -> bool:
    calls = _csms_calls(log)
    boots = [c for c in calls if c["action"] == "BootNotification"]
    started = [
        c for c in calls
        if c["action"] == "TransactionEvent" and c["payload"]["eventType"] == "Started"
    ]  # fmt: skip
    return bool(boots) and bool(started)


def test_demo_ocpp_2_0_1_runs_the_demo_site_on_2_0_1(tmp_path: Path) -> None:
    """`DEMO_OCPP=2.0.1 make run`: the bench CSMS sees the site boot on 2.0.1 (a 2.0.1
    BootNotification) and a remote-started session of the demo day as a TransactionEvent."""
    with _demo(tmp_path, DEMO_OCPP="2.0.1", DEMO_SECONDS_PER_HOUR="4") as (demo, state, err):
        log = state / "csms-messages.jsonl"
        _wait_for(err, "site display: ", 120, demo)
        assert "OCPP 2.0.1 (DEMO_OCPP)" in err.read_text(errors="replace")
        deadline = time.monotonic() + 90
        while not _started_on_201(log):
            assert demo.poll() is None, err.read_text(errors="replace")
            assert time.monotonic() < deadline, _csms_calls(log)
            time.sleep(0.5)
        calls = _csms_calls(log)
        assert {c["ocpp"] for c in calls} == {"2.0.1"}, calls
        boot = next(c for c in calls if c["action"] == "BootNotification")
        assert boot["payload"]["reason"] == "PowerUp"
        assert boot["payload"]["chargingStation"]["model"], boot
        started = next(c for c in calls if c["action"] == "TransactionEvent")
        assert started["payload"]["triggerReason"] == "RemoteStart", started
        token = started["payload"]["idToken"]
        assert token["type"] == "Central" and token["idToken"].startswith("APP-100"), token
        booted = {c["identity"] for c in calls if c["action"] == "BootNotification"}
        assert started["identity"] in booted, calls


def test_the_demo_shows_the_ways_to_pay_and_the_terminal_arms_itself(tmp_path: Path) -> None:
    """`make run`: the display of the terminal's connector offers the QR code and "Pay by
    card"; the demo day's EV plugs in at it, the display says the terminal is armed for it, a
    card is presented to the simulated terminal and the session starts with the payment's
    token (the 1.6 CSMS is told of it first); at its end its priced cost is captured, told to
    the CSMS as its FinalCost, and the day's revenue line adds up to the sessions recorded."""
    with _demo(tmp_path, DEMO_SECONDS_PER_HOUR="3") as (demo, state, err):
        _wait_for(err, "site display: ", 120, demo)
        said = err.read_text(errors="replace")
        assert "card terminal 'lobby' for hd1:1" in said, said
        url = re.search(r"site display: (http://\S+/display)", said)
        assert url is not None, said
        with urllib.request.urlopen(f"{url[1]}/hd1:1?lang=en", timeout=10) as response:
            page = response.read().decode()
        assert "Scan to pay" in page and "Pay by card" in page, page
        log = state / "demo-day.log"
        _wait_for(log, "terminal lobby arms itself for hd1:1", 90, demo)
        _wait_for(log, "started with the payment's token", 30, demo)
        day = log.read_text(errors="replace")
        armed = text("en", "terminal.armed_here", terminal="lobby")
        assert f"armed; the display says “{armed}”; card approved: session" in day, day
        calls = _csms_calls(state / "csms-messages.jsonl")
        told = [c["payload"] for c in calls if c["action"] == "DataTransfer"
                and c["payload"].get("messageId") == "PaymentToken"]  # fmt: skip
        assert len(told) == 1, calls
        token = json.loads(told[0]["data"])["idTag"]
        starts = [c["payload"] for c in calls if c["action"] == "StartTransaction"]
        assert token.startswith("PAY") and token in [s["idTag"] for s in starts], calls
        _wait_for(log, "revenue: ", 90, demo)
        _paid_and_summed(state, log.read_text(errors="replace"))


def _paid_and_summed(state: Path, day: str) -> None:
    """The card paid session was captured once for its priced cost (minor units), the CSMS was
    told that amount, and the revenue line is the sum of the sessions the site recorded."""
    with contextlib.closing(sqlite3.connect(state / "edge.db")) as conn:
        paid = conn.execute(
            "SELECT p.state, p.settled_minor, c.total_incl_tax_minor"
            " FROM payments AS p JOIN session_costs AS c"
            " ON c.session_local_id = p.session_local_id"
        ).fetchall()
        costs = [row[0] for row in conn.execute(
            "SELECT c.total_incl_tax_minor FROM session_costs AS c JOIN sessions AS s"
            " ON s.local_id = c.session_local_id WHERE s.stop_at_s IS NOT NULL"
            " ORDER BY s.stop_at_s, s.local_id"
        )]  # fmt: skip
    ((payment_state, settled_minor, cost_minor),) = paid
    assert cost_minor >= 50  # the demo's session fee, and the energy at 0.49 EUR/kWh
    assert (payment_state, settled_minor) == ("settled", cost_minor), paid
    line = next(x for x in day.splitlines() if "revenue: " in x)
    card = Decimal(cost_minor).scaleb(-2)  # 50 -> 0.50, as the line prints it
    assert f"card_terminal 1 session {card} EUR (captured {card})" in line, line
    amounts = [Decimal(a) for a in re.findall(r"sessions? (\d+\.\d\d) EUR", line)]
    # The demo goes on after the line: a session may end between it and this read (a loaded
    # machine showed one, its 0.50 fee recorded but not yet in the line), never two.
    summed = {sum(costs), sum(costs[:-1])}
    assert sum(amounts) * 100 in summed, (line, costs)
    calls = _csms_calls(state / "csms-messages.jsonl")
    final = [json.loads(c["payload"]["data"]) for c in calls if c["action"] == "DataTransfer"
             and c["payload"].get("messageId") == "FinalCost"]  # fmt: skip
    assert [Decimal(str(f["cost"])) for f in final] == [card], final
