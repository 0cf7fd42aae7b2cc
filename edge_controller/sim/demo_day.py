"""The demo's scripted day: EVs come and go, the building peaks, the CSMS drops out, cards pay.

It plays the world around the site: drivers and their EVs (the simulator's control interface),
the operator's backend (the bench CSMS, run as a child process: remote starts, the local
authorization list, an outage). The day is compressed (``seconds_per_hour``) and repeats.
One line per step goes to stdout. Run by scripts/demo.sh::

    python -m edge_controller.sim.demo_day --config config/demo.yaml
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TextIO
from urllib.parse import urlparse

import aiohttp

from edge_controller.api.client import DaemonNotRunning, fetch_status
from edge_controller.api.server import STATUS_SOCKET
from edge_controller.config.settings import Settings
from edge_controller.domain.payments import TOKEN_PREFIX
from edge_controller.domain.snapshot import SiteView
from edge_controller.sim.control_client import SimControlClient, SimControlError
from edge_controller.sim.demo_csms import CsmsProcess, CsmsUnavailable

STAFF_CARD_UID = "04A1B2C3D4E5F6"  # in the local list the CSMS sends; taps on reader "entrance"
DAY_START_H = 7.0
DEFAULT_SECONDS_PER_HOUR = 8.0
TAP_HOLD_S = 1.5
CONNECT_WAIT_S = 10.0
SESSION_WAIT_S = 6.0
ARMED_WAIT_S = 10.0  # for the terminal to arm itself for the EV plugged in
TERMINAL_NOTE = re.compile(r'data-field="terminal_text">([^<]*)<')  # on a connector's page
ViewSource = Callable[[], Awaitable[SiteView]]
# The revenue line of the sessions the site recorded; the site's records are not the
# simulator's to read, so whoever runs the day passes it (``edge-controller demo-day`` does).
RevenueSource = Callable[[], str]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True, slots=True)
class Arrive:
    connector: str
    profile: str


@dataclass(frozen=True, slots=True)
class Leave:
    connector: str


@dataclass(frozen=True, slots=True)
class RemoteStart:
    connector: str
    id_tag: str


@dataclass(frozen=True, slots=True)
class BaseLoad:
    current_a: tuple[float, float, float]
    why: str


@dataclass(frozen=True, slots=True)
class CsmsUp:
    """The bench CSMS is started again."""


@dataclass(frozen=True, slots=True)
class CsmsDown:
    """The bench CSMS is stopped (an outage)."""


@dataclass(frozen=True, slots=True)
class SendLocalList:
    id_tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tap:
    reader: str
    uid: str


@dataclass(frozen=True, slots=True)
class WebPay:
    """A driver scans the connector's QR code and pays on the web: the bench CSMS's payment
    page (2.1: NotifyWebPaymentStarted holds the connector), then its Pay link (the start)."""

    connector: str


@dataclass(frozen=True, slots=True)
class CardAtTerminal:
    """The EV plugged in at the connector waits, so its terminal arms itself for it (the site
    display says so); the driver holds a card to the terminal (the simulator's ZVT terminal
    waits for it), the session starts with the payment's token and its cost is captured when
    it ends."""

    terminal: str
    connector: str


DemoStep = (
    Arrive
    | Leave
    | RemoteStart
    | WebPay
    | CardAtTerminal
    | BaseLoad
    | CsmsUp
    | CsmsDown
    | SendLocalList
    | Tap
)


@dataclass(frozen=True, slots=True)
class Step:
    at_h: float  # hour of the simulated day (7.5 = 07:30)
    action: DemoStep


# Drivers start in the operator's app (RemoteStart) and plug in a few minutes later; the
# staff card is tapped after plugging in.
DAY: tuple[Step, ...] = (
    Step(7.0, CsmsUp()),
    Step(7.0, BaseLoad((14, 11, 12), "morning")),
    Step(7.1, SendLocalList((STAFF_CARD_UID,))),
    Step(7.15, RemoteStart("keba:1", "APP-1001")),
    Step(7.25, Arrive("keba:1", "compact")),
    Step(7.65, RemoteStart("charx:1", "APP-1002")),
    Step(7.75, Arrive("charx:1", "van")),
    Step(8.4, RemoteStart("charx:2", "APP-1003")),
    Step(8.5, Arrive("charx:2", "hatch1")),
    Step(9.0, Arrive("hd1:1", "compact")),
    Step(9.1, CardAtTerminal("lobby", "hd1:1")),
    Step(10.0, BaseLoad((34, 30, 32), "peak: kitchen and heat pumps")),
    Step(10.9, WebPay("charx:3")),
    Step(11.0, Arrive("charx:3", "plugin")),
    Step(12.0, BaseLoad((16, 13, 14), "peak over")),
    Step(12.5, CsmsDown()),
    Step(13.0, Arrive("hd2:1", "plugin")),
    Step(13.2, Tap("entrance", STAFF_CARD_UID)),
    Step(14.5, CsmsUp()),
    Step(15.0, Leave("keba:1")),
    Step(16.0, Leave("charx:1")),
    Step(17.0, Leave("charx:2")),
    Step(17.0, Leave("hd1:1")),
    Step(18.0, Leave("charx:3")),
    Step(18.0, Leave("hd2:1")),
    Step(18.5, BaseLoad((18, 16, 19), "evening")),
)
DAY_END_H = 19.0


def _message(page: str) -> str:
    """The message of one of the display's message pages (its first paragraph), as text."""
    found = re.search(r"<p[^>]*>(.*?)</p>", page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()[:200] if found else ""


def clock_text(at_h: float) -> str:
    minutes = round(at_h * 60)
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def describe(action: DemoStep, ocpp_numbers: dict[str, int]) -> str:
    """One line a newcomer understands (before the step's outcome is known)."""
    match action:
        case Arrive(connector, profile):
            return f"an EV ({profile}) plugs in at {connector}"
        case Leave(connector):
            return f"the EV at {connector} leaves: the session stops, the connector frees up"
        case RemoteStart(connector, id_tag):
            where = f"connector {ocpp_numbers.get(connector, '?')} ({connector})"
            return f"app start: the backend sends RemoteStartTransaction {id_tag} to {where}"
        case WebPay(connector):
            return f"a driver scans the QR code at {connector} and pays on the bench CSMS's page"
        case CardAtTerminal(terminal, connector):
            return f"terminal {terminal} arms itself for {connector}: a card is held to it"
        case BaseLoad(current_a, why):
            l1, l2, l3 = current_a
            return f"building load {l1:g}/{l2:g}/{l3:g} A ({why}); the chargers share the rest"
        case CsmsUp():
            return "CSMS up: the uplink connects and sends what waited in the outbox"
        case CsmsDown():
            return "CSMS outage: the uplink goes offline, transactions queue in the outbox"
        case SendLocalList(id_tags):
            return f"backend: SendLocalList (Full) with the staff card {', '.join(id_tags)}"
        case Tap(reader, uid):
            return f"a driver taps card {uid} on reader {reader}"


def timeline(
    steps: Sequence[Step], seconds_per_hour: float, start_h: float = DAY_START_H
) -> list[tuple[float, Step]]:
    """Each step with its offset in real seconds from the start of the day, in order."""
    if seconds_per_hour <= 0:
        raise ValueError("seconds_per_hour must be positive")
    ordered = sorted(steps, key=lambda s: s.at_h)  # stable: same hour keeps the script order
    return [((s.at_h - start_h) * seconds_per_hour, s) for s in ordered]


def ocpp_connector_numbers(settings: Settings) -> dict[str, int]:
    """OCPP connector numbers of the site topology: 1..N across chargers in config order."""
    ids = [f"{cid}:{n}" for cid, c in settings.chargers.items() for n in range(1, c.connectors + 1)]
    return {cid: number for number, cid in enumerate(ids, start=1)}


class DemoDay:
    def __init__(
        self,
        settings: Settings,
        sim: SimControlClient,
        csms: CsmsProcess,
        out: TextIO,
        status: ViewSource,
        *,
        connect_wait_s: float = CONNECT_WAIT_S,
        revenue: RevenueSource | None = None,
    ) -> None:
        self.sim, self.csms, self.out, self.status = sim, csms, out, status
        self._revenue = revenue
        self.connect_wait_s = connect_wait_s
        self.identity = settings.ocpp.identity or settings.site.id
        self.numbers = ocpp_connector_numbers(settings)
        self.reader_connectors = {rid: r.connectors for rid, r in settings.readers.items()}
        self.day = 0
        # The daemon offers its first version first; the bench CSMS takes its first choice.
        self.ocpp2 = settings.ocpp.versions[0] != "1.6"
        self.remote_starts = 0
        web = settings.web
        self.web_url = f"http://{web.host}:{web.port}" if web.enabled else None

    def say(self, at_h: float, text: str) -> None:
        print(f"[day {self.day} {clock_text(at_h)}] {text}", file=self.out, flush=True)

    async def run(self, seconds_per_hour: float, days: int) -> None:
        loop = asyncio.get_running_loop()
        while days <= 0 or self.day < days:
            self.day += 1
            start_s = loop.time()
            for offset_s, step in timeline(DAY, seconds_per_hour):
                await asyncio.sleep(max(0.0, start_s + offset_s - loop.time()))
                self.say(step.at_h, describe(step.action, self.numbers))
                outcome = await self.perform(step.action)
                if outcome:
                    self.say(step.at_h, f"  → {outcome}")
            end_s = start_s + (DAY_END_H - DAY_START_H) * seconds_per_hour
            await asyncio.sleep(max(0.0, end_s - loop.time()))
            self.say(DAY_END_H, self.revenue())
            self.say(DAY_END_H, "the day is over; the next one starts (Ctrl-C ends the demo)")

    async def perform(self, action: DemoStep) -> str:
        """Do one step; a failure is reported as its outcome and the day goes on."""
        try:
            return await self._perform(action)
        except (SimControlError, CsmsUnavailable, aiohttp.ClientError, TimeoutError) as exc:
            return f"not done: {exc}"

    async def _perform(self, action: DemoStep) -> str:
        match action:
            case Arrive(connector, profile):
                await self.sim.plug(connector, profile=profile)
            case Leave(connector):
                await self.sim.unplug(connector)
            case BaseLoad(current_a):
                await self.sim.set_base_load(*current_a)
            case CsmsUp():
                await self.csms.start()
                return await self._wait_connected()
            case CsmsDown():
                await self.csms.stop()
            case RemoteStart(connector, id_tag):
                message, payload = self._remote_start(connector, id_tag)
                answer = await self.csms.send(self.identity, message, payload)
                return f"charge point answered {answer.get('status')}"
            case WebPay(connector):
                return await self._web_pay(connector)
            case CardAtTerminal(terminal, connector):
                return await self._card_at_terminal(terminal, connector)
            case SendLocalList(id_tags) if self.ocpp2:
                entries2 = [{"idToken": {"idToken": t, "type": "ISO14443"},
                             "idTokenInfo": {"status": "Accepted"}} for t in id_tags]  # fmt: skip
                payload = {"versionNumber": self.day, "updateType": "Full",
                           "localAuthorizationList": entries2}  # fmt: skip
                answer = await self.csms.send(self.identity, "SendLocalList", payload)
                return f"charge point answered {answer.get('status')}"
            case SendLocalList(id_tags):
                entries = [{"idTag": t, "idTagInfo": {"status": "Accepted"}} for t in id_tags]
                payload = {"listVersion": self.day, "updateType": "Full",
                           "localAuthorizationList": entries}  # fmt: skip
                answer = await self.csms.send(self.identity, "SendLocalList", payload)
                return f"charge point answered {answer.get('status')}"
            case Tap(reader, uid):
                result = await self.sim.tap(reader, uid, hold_s=TAP_HOLD_S)
                if not any(str(a).startswith("FFCA") for a in result.get("apdus", [])):
                    return "the reader did not read the card (see the daemon log)"
                return await self._session_for(uid, self.reader_connectors.get(reader, []))
        return ""

    def _remote_start(self, connector: str, id_tag: str) -> tuple[str, dict[str, object]]:
        number = self.numbers[connector]
        if not self.ocpp2:
            return "RemoteStartTransaction", {"connectorId": number, "idTag": id_tag}
        self.remote_starts += 1
        token = {"idToken": id_tag, "type": "Central"}
        payload = {"evseId": number, "remoteStartId": self.remote_starts, "idToken": token}
        return "RequestStartTransaction", payload

    async def _web_pay(self, connector: str) -> str:
        page = f"/pay/{self.identity}/{self.numbers[connector]}"
        status, _ = await self.csms.open_page(page)
        if status != HTTPStatus.OK:
            return f"not done: the payment page answered {status} (is {self.identity} connected?)"
        _, text = await self.csms.open_page(f"{page}/confirm")
        found = re.search(r'data-status="([^"]*)"', text)
        return f"paid; charge point answered {found.group(1) if found else 'nothing'}"

    def revenue(self) -> str:
        """The revenue summary of the sessions the site recorded (``sessions --summary``)."""
        if self._revenue is None:
            return "revenue: see edge-controller sessions --summary"
        return self._revenue()

    async def _card_at_terminal(self, terminal: str, connector: str) -> str:
        """Wait for the simulated terminal to wait for a card (armed by the daemon), quote what
        the site display says at the connector then, present the card, and wait for the
        session it pays for."""
        if not await self._armed(terminal):
            return f"not done: terminal {terminal} was not armed (daemon log: 'payments.arm')"
        shown = await self._terminal_note(connector)
        await self.sim.present_card(terminal)
        for _ in range(int(SESSION_WAIT_S / 0.5)):
            with contextlib.suppress(DaemonNotRunning):
                for c in (await self.status()).connectors:
                    if c.connector_id == connector and (c.id_tag or "").startswith(TOKEN_PREFIX):
                        return (f"armed; the display says “{shown}”; card approved: session"
                                f" {c.session_id} started with the payment's token")  # fmt: skip
            await asyncio.sleep(0.5)
        return "card presented, but no paid session started (daemon log: 'payments')"

    async def _armed(self, terminal: str) -> bool:
        loop = asyncio.get_running_loop()
        until_s = loop.time() + ARMED_WAIT_S
        while loop.time() < until_s:
            if (await self.sim.terminal(terminal)).get("waiting_for_card"):
                return True
            await asyncio.sleep(0.5)
        return False

    async def _terminal_note(self, connector: str) -> str:
        """What the site display says of the card terminal at the connector now."""
        if self.web_url is None:
            return "(the site's web display is off)"
        url = f"{self.web_url}/display/{connector}?lang=en"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.get(url) as answer,
        ):
            found = TERMINAL_NOTE.search(await answer.text())
        return html.unescape(found.group(1)) if found is not None else "(nothing)"

    async def _wait_connected(self) -> str:
        loop = asyncio.get_running_loop()
        started_s = loop.time()
        while loop.time() - started_s < self.connect_wait_s:
            if self.identity in await self.csms.connected():
                return f"{self.identity} connected after {loop.time() - started_s:.0f} s"
            await asyncio.sleep(0.5)
        return f"{self.identity} not connected yet (the daemon keeps retrying)"

    async def _session_for(self, id_tag: str, connectors: Sequence[str]) -> str:
        """Whether the daemon opened a session for ``id_tag`` on one of ``connectors``."""
        for _ in range(int(SESSION_WAIT_S / 0.5)):
            with contextlib.suppress(DaemonNotRunning):
                view = await self.status()
                for c in view.connectors:
                    if c.connector_id in connectors and (c.id_tag or "").upper() == id_tag:
                        return f"read; {c.connector_id} accepted it: session {c.session_id}"
            await asyncio.sleep(0.5)
        return "read, but no session started (daemon log: 'token decided' says why)"


async def run(
    settings: Settings,
    seconds_per_hour: float,
    days: int,
    csms_log: Path,
    revenue: RevenueSource | None = None,
) -> None:
    url = urlparse(settings.ocpp.url or "ws://127.0.0.1:18900")
    csms = CsmsProcess(url.hostname or "127.0.0.1", url.port or 80, csms_log)
    sim_url = f"http://{settings.simulation.control_host}:{settings.simulation.control_port}"
    socket_path = settings.storage.state_dir / STATUS_SOCKET
    try:
        async with SimControlClient(sim_url) as sim:
            day = DemoDay(
                settings, sim, csms, sys.stdout, lambda: fetch_status(socket_path), revenue=revenue
            )
            await day.run(seconds_per_hour, days)
    finally:
        await csms.stop()


async def _main_async(
    settings: Settings, args: argparse.Namespace, revenue: RevenueSource | None
) -> None:
    loop = asyncio.get_running_loop()
    day = run(settings, args.seconds_per_hour, args.days, args.csms_log, revenue)
    task = asyncio.create_task(day)
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, task.cancel)  # the finally blocks stop the CSMS
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def main(
    argv: list[str] | None = None,
    revenue_of: Callable[[Settings], RevenueSource] | None = None,
    prog: str = "python -m edge_controller.sim.demo_day",
) -> int:
    from edge_controller.config.load import load_settings

    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--seconds-per-hour", type=float, default=DEFAULT_SECONDS_PER_HOUR)
    parser.add_argument("--days", type=int, default=0, help="0: repeat until stopped")
    parser.add_argument("--csms-log", type=Path, default=Path("csms-messages.jsonl"))
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    revenue = None if revenue_of is None else revenue_of(settings)
    asyncio.run(_main_async(settings, args, revenue))
    return 0


if __name__ == "__main__":
    sys.exit(main())
