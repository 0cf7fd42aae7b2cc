"""WCAG contrast of every text on the display and console pages, measured in headless
Chromium from the computed styles: each element with text of its own (and each button, field
and list) is measured against the background its ancestors paint under it, and must reach AA:
4.5:1, or 3:1 for large text (24 px, or 18.66 px bold). Every state a page can be in is shown:
each connector state, a session with its cost, messages of each priority, a shared card
terminal that is not armed, the stream lost, errors on forms, and every console page with its
lists. The pages are served by the real web application on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from edge_controller.app import sessions_report as report
from edge_controller.app.web import OperatorQueue, SessionHistory, web_command
from edge_controller.domain.display_messages import DisplayMessage, Priority
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.snapshot import Availability, ConnectorView, SiteView
from edge_controller.domain.web_payment import PaymentHold, QrCodes
from edge_controller.storage.database import Database
from edge_controller.storage.payments_store import PaymentStore
from edge_controller.storage.sessions_store import SessionStore
from edge_controller.web import DisplayHub, DisplaySetup, Sources, StartWay, build_app
from edge_controller.web.passwords import hash_password
from tests.e2e.browser import DESKTOP, PHONE, Browser, chromium
from tests.integration.web.test_console_live import NoCommands, NoReports
from tests.integration.web.test_console_reports import make_paid_history
from tests.outbox_events import T0_S
from tests.ports import free_port
from tests.unit.app.test_held_for_operator import refused
from tests.unit.app.test_sessions_report import BERLIN

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(180)]

PASSWORD = "operator pass 1"
EUR = Currency.of("EUR")
STATES = {
    "wb1:1": Availability.AVAILABLE,
    "wb1:2": Availability.CHARGING,
    "wb2:1": Availability.PREPARING,
    "wb2:2": Availability.PREPARING,
    "wb3:1": Availability.FAULTED,
    "wb3:2": Availability.RESERVED,
}
PRICE = {"currency": "EUR", "per_kwh": "0.49", "per_session": "0.50", "per_minute_idle": "0.10",
         "idle_after_s": 3600}  # fmt: skip

# The contrast of each element's text against what its ancestors paint under it.
MEASURE_JS = """
function rgba(text) {
  const parts = text.match(/[\\d.]+/g).map(Number);
  return parts.length > 3 ? parts.slice(0, 4) : parts.concat([1]);
}
function over(top, under) {
  const a = top[3];
  return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]);
}
function painted(el) {
  const chain = [];
  for (let e = el; e; e = e.parentElement) chain.push(e);
  let colour = [255, 255, 255, 1];  // the canvas
  for (const e of chain.reverse()) {
    const bg = rgba(getComputedStyle(e).backgroundColor);
    if (bg[3] > 0) colour = over(bg, colour);
  }
  return colour;
}
function luminance(c) {
  const lin = v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
}
const found = [];
for (const el of document.querySelectorAll("body *")) {
  const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
  const field = el.matches("button, input:not([type=hidden]):not([type=radio]), select, textarea");
  if (!own && !field) continue;
  const style = getComputedStyle(el);
  if (style.visibility === "hidden" || el.getClientRects().length === 0) continue;
  const back = painted(el), fore = over(rgba(style.color), back);
  const [a, b] = [luminance(fore), luminance(back)];
  const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
  found.push({
    what: el.tagName.toLowerCase() + (el.className ? "." + el.className : ""),
    text: (own ? el.textContent : el.value || el.tagName).trim().slice(0, 40),
    ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
    large: size >= 24 || (size >= 18.66 && bold),
    colour: style.color, background: "rgb(" + back.slice(0, 3).map(Math.round).join(", ") + ")",
  });
}
return found;
"""


# Styles set through the CSSOM: the pages' policy forbids style attributes in markup.
ADD_JS = """
for (const [text, colour, size] of [["faint", "#999", "16px"], ["big", "#949494", "24px"]]) {
  const p = document.createElement("p");
  p.textContent = text;
  p.style.color = colour;
  p.style.background = "#fff";
  p.style.fontSize = size;
  document.body.append(p);
}
"""


def too_faint(found: list[dict[str, Any]]) -> list[str]:
    return [
        f"{f['what']} {f['text']!r}: {f['ratio']:.2f} ({f['colour']} on {f['background']})"
        for f in found
        if f["ratio"] < (3.0 if f["large"] else 4.5)
    ]


class Board:
    """What a CSMS set: a message of each priority, the site-wide one too, and a web payment
    hold on one connector."""

    def messages(self) -> tuple[DisplayMessage, ...]:
        every = tuple(STATES)
        return (
            DisplayMessage(1, "cp", Priority.ALWAYS_FRONT, "Site closes at 22:00",
                           connectors=every, seq=1),
            DisplayMessage(2, "cp", Priority.NORMAL_CYCLE, "Welcome", connectors=every, seq=2),
            DisplayMessage(3, "cp", Priority.IN_FRONT, "Cable is short", connectors=("wb1:1",),
                           evse_id=1, seq=3),
            DisplayMessage(4, "cp", Priority.NORMAL_CYCLE, "Use bay 2", connectors=("wb1:1",),
                           evse_id=1, seq=4),
        )  # fmt: skip

    def templates(self) -> dict[str, str]:
        return {}

    def holds(self) -> dict[str, PaymentHold]:
        return {"wb3:2": PaymentHold("wb3:2", -1, T0_S + 10**9)}


class Site:
    def __init__(self) -> None:
        connectors = tuple(
            ConnectorView(
                cid,
                state,
                16.0 if state is Availability.CHARGING else 0.0,
                "max",
                power_w=11_040.0 if state is Availability.CHARGING else None,
                session_energy_wh=3456.0 if state is Availability.CHARGING else None,
                session_id="7" if state is Availability.CHARGING else None,
                session_started_s=T0_S - 3600 if state is Availability.CHARGING else None,
                fault_text="RCD" if state is Availability.FAULTED else None,
                price=PRICE,
                running_cost={"currency": "EUR", "incl_tax": "2.19"}
                if state is Availability.CHARGING
                else None,
                at_s=T0_S,
            )
            for cid, state in STATES.items()
        )
        self.view = SiteView(
            "site1", (40.0, 12.0, 12.0), 63.0, None, 0.5, connectors, uplink_online=False,
            outbox_backlog=4, outbox_parked=3, payments_unknown=1, at_s=T0_S,
        )  # fmt: skip

    def current(self) -> SiteView:
        return self.view

    async def next_view(self) -> SiteView:
        return self.view


def setup() -> DisplaySetup:
    ways = {cid: (StartWay.CARD, StartWay.APP, StartWay.TERMINAL) for cid in STATES}
    places = {cid: {"connector": cid} for cid in STATES}
    return DisplaySetup(
        "site1", tuple(STATES), ways, QrCodes(places, "https://pay.invalid/{connector}"),
        {"entrance": ("wb2:1", "wb2:2"), "kiosk": ("wb1:1", "wb1:2", "wb3:1", "wb3:2")},
    )  # fmt: skip


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    state = tmp_path / "state"
    state.mkdir()
    path = state / "edge.db"
    await make_paid_history(path)
    db = await Database.open(path)
    outbox, _ = await refused(db)
    payments = PaymentStore(db)
    await payments.authorising("t1", "wb1:2", Money.of_minor(5000, EUR), T0_S)
    await payments.unknown_outcomes("t1")
    (tmp_path / "hash").write_text(hash_password(PASSWORD))
    (tmp_path / "hash").chmod(0o600)
    from edge_controller.config.settings import WebSettings

    settings = WebSettings.model_validate(
        {"accounts": {"ops": {"role": "operator", "password_hash_file": str(tmp_path / "hash")}}}
    )
    hub = DisplayHub(Site(), setup(), 5.0, clock=lambda: T0_S, messages=Board())
    sources = Sources(
        NoReports(), SessionHistory(SessionStore(db), report.Query(path, "site1", BERLIN)), {},
        NoCommands(), web_command, OperatorQueue(db, outbox, lambda: None),
    )  # fmt: skip
    server = TestServer(build_app(settings, hub, sources), port=free_port())
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()
        await db.close()


async def measured(browser: Browser, url: str, before: str = "") -> list[dict[str, Any]]:
    if url:
        await browser.open(url)
    if before:
        await browser.script(before)
    found: list[dict[str, Any]] = await browser.script(MEASURE_JS)
    return found


async def log_in(browser: Browser, base: str) -> None:
    await browser.open(f"{base}/console/login")
    await browser.log_in("ops", PASSWORD)


async def test_the_measure_finds_faint_text(base: str) -> None:
    """The measurement itself: grey #999 on white (2.85:1) is caught, and a large bold one at
    3.0:1 passes only as large text."""
    with chromium("en", DESKTOP) as browser:
        await browser.open(f"{base}/display")
        found = await measured(browser, "", ADD_JS)
    faint = too_faint(found)
    assert len(faint) == 1 and "'faint': 2.85" in faint[0]
    (big,) = [f for f in found if f["text"] == "big"]
    assert big["large"] and 3.0 <= big["ratio"] < 4.5


@pytest.mark.parametrize("language", ["en", "de"])
async def test_the_display_reaches_aa_in_every_state(base: str, language: str) -> None:
    stale = "document.getElementById('live').classList.add('stale');"
    error = (
        "document.forms[0].insertAdjacentHTML('afterbegin', "
        '\'<p class="error" role="alert">Wrong</p>\');'
    )
    with chromium(language, PHONE) as browser:
        pages = {"display": await measured(browser, f"{base}/display")}
        await browser.screenshot(f"contrast-display-{language}", PHONE)
        pages["display lost"] = await measured(browser, "", stale)
        pages["connector"] = await measured(browser, f"{base}/display/wb2:1")
        pages["report"] = await measured(browser, f"{base}/display/report")
        pages["report error"] = await measured(browser, "", error)
        pages["not found"] = await measured(browser, f"{base}/display/nope:1")
    assert len(pages["display"]) > 60  # every card's texts were measured
    faint = {name: too_faint(found) for name, found in pages.items()}
    assert faint == {name: [] for name in pages}


async def test_the_console_reaches_aa_on_every_page(base: str) -> None:
    with chromium("en", DESKTOP) as browser:
        login = await measured(browser, f"{base}/console/login")
        await log_in(browser, base)
        pages = {"login": login, "console": await measured(browser, f"{base}/console")}
        await browser.screenshot("contrast-console-live", DESKTOP)
        pages["console lost"] = await measured(
            browser, "", "document.getElementById('live').classList.add('stale');"
        )
        pages["sessions"] = await measured(browser, f"{base}/console/sessions")
        pages["revenue"] = await measured(browser, f"{base}/console/revenue")
        pages["system"] = await measured(browser, f"{base}/console/system")
        await browser.screenshot("contrast-console-revenue", DESKTOP)
    assert len(pages["console"]) > 60 and len(pages["sessions"]) > 100
    assert len(pages["system"]) > 20
    faint = {name: too_faint(found) for name, found in pages.items()}
    assert faint == {name: [] for name in pages}
