"""The operator console in a real browser and over plain HTTP: an operator's limit reaches the
simulated charger through the command port, a viewer changes nothing, a change without the CSRF
token or a login is refused, and repeated failed logins lock the account out.
Real simulator and daemon."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from selenium.common.exceptions import WebDriverException

from edge_controller.web.passwords import hash_password
from tests.e2e.browser import DESKTOP, PHONE, Browser, chromium
from tests.e2e.conftest import Launch
from tests.e2e.launch import E2ESite, eventually
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]

PASSWORDS = {"ops": "operator pass 1", "eve": "viewer pass 22"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CID = "keba:1"


def console_config(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    accounts = {}
    for user, role in (("ops", "operator"), ("eve", "viewer")):
        path = tmp_path / f"{user}.hash"
        path.write_text(hash_password(PASSWORDS[user]) + "\n")
        path.chmod(0o600)
        accounts[user] = {"role": role, "password_hash_file": str(path)}
    config["web"] = {"enabled": True, "port": free_port(), "accounts": accounts}
    return config


def base(config: dict[str, Any]) -> str:
    return f"http://127.0.0.1:{config['web']['port']}"


async def sim_setpoint(site: E2ESite) -> float:
    return float((await site.state())["connectors"][CID]["setpoint_a"])


async def login(http: aiohttp.ClientSession, url: str, user: str, password: str) -> str:
    """Log in over HTTP; returns the page after the login."""
    async with http.get(f"{url}/console/login") as response:
        token = CSRF.findall(await response.text())[0]
    form = {"user": user, "password": password, "csrf": token}
    async with http.post(f"{url}/console/login", data=form, headers={"Origin": url}) as response:
        return await response.text()


async def _report_problem(url: str) -> None:
    """A driver's report, as the display's form sends it."""
    form = {"connector": CID, "kind": "damaged", "text": "Cover cracked", "submission": "x1"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/display/report", data=form, headers={"Origin": url}) as response,
    ):
        assert response.status == 200


async def _selftest_in_browser(browser: Browser, url: str) -> None:
    """The selftest through the running daemon, started from the console's page."""
    await browser.open(f"{url}/console/commissioning")
    await browser.click('form[action$="/selftest"] button')

    async def done_shown() -> bool:
        try:  # the page reloads itself each second while it runs
            return "selftest started by ops" in await browser.text("#run") and (
                ": done" in await browser.text("#run")
            )
        except WebDriverException:
            return False  # caught between two loads

    await eventually(done_shown, "the selftest's result on the page", 60)
    assert '"name": "charger keba:1 answers"' in await browser.text("#result")


async def test_an_operator_sets_a_limit_in_the_browser_and_the_charger_gets_it(
    launch: Launch, config: dict[str, Any], tmp_path: Path
) -> None:
    config = console_config(config, tmp_path)
    site = await launch(config)
    await site.control.plug(CID, profile="car3")

    async def charging_at_16() -> bool:
        return await sim_setpoint(site) == 16.0

    await eventually(charging_at_16, "the EV charges at 16 A", 60)
    with chromium("en", DESKTOP) as browser:
        await browser.open(f"{base(config)}/console")
        assert (await browser.call(lambda d: d.current_url)).endswith("/console/login")

        await browser.log_in("ops", PASSWORDS["ops"])
        cookie = await browser.call(lambda d: d.get_cookie("edge_console"))
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/console"

        def set_limit(d: Any) -> None:
            row = d.find_element("css selector", f'tr[data-connector="{CID}"]')
            row.find_element("css selector", 'input[name="current_a"]').send_keys("8")
            row.find_element("css selector", "form.inline button").click()

        await browser.call(set_limit)

        async def lowered() -> bool:
            return await sim_setpoint(site) == 8.0

        await eventually(lowered, "the simulated charger's setpoint is 8 A")
        await _report_problem(base(config))
        await browser.open(f"{base(config)}/console")  # the page as it is now
        problems = await browser.call(
            lambda d: d.find_element("css selector", "#problems tbody").text
        )
        assert "P-000001 keba:1 damaged Cover cracked open" in problems
        await browser.screenshot("console-desktop", DESKTOP)
        await browser.screenshot("console-phone", PHONE)
        view = await site.status()
        (shown,) = [c for c in view.connectors if c.connector_id == CID]
        assert shown.offered_current_a == 8.0 and "web" in shown.limit_reason
        await browser.open(f"{base(config)}/console/system")
        system = await browser.call(lambda d: {
            "devices": [e.get_attribute("data-device")
                        for e in d.find_elements("css selector", "#devices tbody tr")],
            "check": d.find_element("css selector", "#check-config").text,
            "log": d.find_element("css selector", "#log tbody").text,
        })  # fmt: skip
        assert system["devices"] == [d.device_id for d in view.devices]
        lines = system["check"].splitlines()  # check-config's warnings, then the summary
        assert any(line.startswith(f"site {view.site_id}: ") for line in lines), lines
        assert "operator change" in system["log"] and "SetConnectorLimit" in system["log"]
        await browser.screenshot("console-system-desktop", DESKTOP)
        await _selftest_in_browser(browser, base(config))
    changes = [line for line in site.daemon.tail().splitlines() if "operator change" in line]
    limit, selftest = changes[-2:]
    assert '"user": "ops"' in limit and "SetConnectorLimit" in limit
    assert '"user": "ops"' in selftest and '"commissioning": "selftest"' in selftest


async def test_viewers_stray_posts_and_failed_logins_change_nothing(
    launch: Launch, config: dict[str, Any], tmp_path: Path
) -> None:
    config = console_config(config, tmp_path)
    site = await launch(config)
    url, limit_url = base(config), f"{base(config)}/console/connectors/{CID}/limit"
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.post(limit_url, data={"current_a": "6"}, headers={"Origin": url}) as r:
            assert r.status == 401  # no login
        async with http.get(f"{url}/console", allow_redirects=False) as r:
            assert (r.status, r.headers["Location"]) == (303, "/console/login")

        page = await login(http, url, "eve", PASSWORDS["eve"])
        assert 'name="current_a"' not in page  # a viewer sees no change forms
        token = CSRF.findall(page)[0]
        form = {"current_a": "6", "csrf": token}
        async with http.post(limit_url, data=form, headers={"Origin": url}) as r:
            assert r.status == 403 and "viewers cannot change" in await r.text()

        page = await login(http, url, "ops", PASSWORDS["ops"])
        token = CSRF.findall(page)[0]
        async with http.post(limit_url, data={"current_a": "6"}, headers={"Origin": url}) as r:
            assert r.status == 403 and "CSRF" in await r.text()  # no token
        stray = {"current_a": "6", "csrf": token}
        async with http.post(limit_url, data=stray, headers={"Origin": "http://evil"}) as r:
            assert r.status == 403  # another site's page
        bad = {"current_a": "lots", "csrf": token}
        async with http.post(limit_url, data=bad, headers={"Origin": url}) as r:
            assert r.status == 400
    view = await site.status()
    (shown,) = [c for c in view.connectors if c.connector_id == CID]
    assert "web" not in shown.limit_reason  # nothing above reached the charger

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for _ in range(5):
            assert "Wrong user or password" in await login(http, url, "ops", "guess")
        page = await login(http, url, "ops", PASSWORDS["ops"])
        assert "Too many failed logins" in page  # locked, even with the right password
    lines = site.daemon.tail().splitlines()
    assert sum("console login failed" in line for line in lines) == 5
    assert PASSWORDS["ops"] not in "\n".join(lines) and "guess" not in "\n".join(lines)


ROW_JS = """
const row = document.querySelector('tr[data-connector="' + arguments[0] + '"]');
const cells = {};
row.querySelectorAll('[data-col]').forEach(td => { cells[td.dataset.col] = td.textContent; });
return {cells: cells, at: document.getElementById('site').dataset.at, marker: window.kept || null,
        live: document.getElementById('live').textContent};
"""


async def test_the_console_follows_the_site_without_a_reload(
    launch: Launch, config: dict[str, Any], tmp_path: Path
) -> None:
    """An EV plugged in shows on the open console by itself (its live stream), with the
    figures the daemon's status gives for the same control-loop moment."""
    site = await launch(console_config(config, tmp_path))
    with chromium("en", DESKTOP) as browser:
        await browser.open(f"{base(config)}/console/login")

        await browser.log_in("eve", PASSWORDS["eve"])
        await browser.script("window.kept = 'this page';")  # gone if the page reloads

        async def row() -> dict[str, Any]:
            found: dict[str, Any] = await browser.script(ROW_JS, CID)
            return found

        async def streaming() -> bool:
            return (await row())["live"] == "live"

        await eventually(streaming, "the console's live stream open", 15)
        assert (await row())["cells"]["state"] == "Available"
        await site.control.plug(CID, profile="car3")

        async def daemon_charging() -> bool:
            view = await site.status()
            return any(c.availability.value == "Charging" for c in view.connectors)

        async def charging() -> bool:
            return (await row())["cells"]["state"] == "Charging"

        daemon_s = await eventually(daemon_charging, "the daemon sees the EV charging", 60)
        page_s = await eventually(charging, "the console shows the EV charging", 60)
        print(f"charging: in the daemon {daemon_s:.2f} s after the plug, on the console "
              f"{page_s:.2f} s later")  # fmt: skip
        compared: list[dict[str, Any]] = []

        async def same_moment() -> bool:
            shown, view = await row(), await site.status()
            if shown["at"] and float(shown["at"]) == view.at_s:
                (c,) = [c for c in view.connectors if c.connector_id == CID]
                compared.append({"shown": shown["cells"], "status": c})
            return bool(compared)

        await eventually(same_moment, "a moment the page and the status both show", 30)
        shown, status = compared[0]["shown"], compared[0]["status"]
        assert shown["state"] == status.availability.value
        assert shown["offered_a"] == f"{status.offered_current_a:.1f}"
        assert shown["power_w"] == ("-" if status.power_w is None else f"{status.power_w:.1f}")
        assert shown["reason"] == status.limit_reason
        assert (await row())["marker"] == "this page"  # no reload happened
