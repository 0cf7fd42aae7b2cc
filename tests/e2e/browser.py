"""Headless Chromium from Debian's packages (chromium, chromium-driver; scripts/setup.sh installs
them), driven with selenium pointed at that browser and its driver: nothing downloads a browser.

Selenium is synchronous: async tests call it through ``asyncio.to_thread`` (``Browser.call``),
so the site's MQTT and CSMS peers in the same event loop keep running meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = Path(__file__).parents[2]
PHONE = (390, 844)
DESKTOP = (1920, 1080)
T = TypeVar("T")


def artifacts_dir() -> Path:
    """Where screenshots are kept (``TEST_ARTIFACTS_DIR``, default test-artifacts/)."""
    path = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts")) / "web"
    path.mkdir(parents=True, exist_ok=True)
    return path


class Browser:
    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver

    async def call(self, action: Callable[[WebDriver], T]) -> T:
        return await asyncio.to_thread(action, self.driver)

    async def open(self, url: str) -> None:
        await self.call(lambda d: d.get(url))

    async def script(self, source: str, *args: Any) -> Any:
        return await self.call(lambda d: d.execute_script(source, *args))

    async def click(self, css: str) -> None:
        """Click the element ``css`` finds."""
        await self._fresh(lambda d: d.find_element("css selector", css).click())

    async def text(self, css: str = "body") -> str:
        """The text of the element ``css`` finds."""
        return await self._fresh(lambda d: str(d.find_element("css selector", css).text))

    async def wait_for_text(self, wanted: str, timeout_s: float = 15.0) -> None:
        """Until the page's text has ``wanted`` (a form's answer comes as a new page)."""
        deadline_s = asyncio.get_running_loop().time() + timeout_s
        while wanted not in (shown := await self.text()):
            if asyncio.get_running_loop().time() > deadline_s:
                raise AssertionError(f"{wanted!r} not shown in {timeout_s} s; shown: {shown}")
            await asyncio.sleep(0.2)

    async def log_in(self, user: str, password: str, timeout_s: float = 15.0) -> None:
        """Log in on the console's login page, open now; return once the console is shown
        (the click returns before the login's answer, slow on a busy host: the password
        hash)."""

        def submit(d: WebDriver) -> None:
            d.find_element("css selector", "#user").send_keys(user)
            d.find_element("css selector", "#password").send_keys(password)
            d.find_element("css selector", "button[type=submit]").click()

        await self.call(submit)
        deadline_s = asyncio.get_running_loop().time() + timeout_s
        while not str(await self.call(lambda d: d.current_url)).endswith("/console"):
            if asyncio.get_running_loop().time() > deadline_s:
                raise AssertionError(f"no console {timeout_s} s after the login")
            await asyncio.sleep(0.1)

    async def _fresh(self, action: Callable[[WebDriver], T], attempts: int = 5) -> T:
        """A live page replaces its parts when the site's state changes, and a form's answer
        replaces the page: an element found may be gone a moment later, and while the new page
        loads even its body may not be there yet. Then it is found again."""
        for attempt in range(attempts):
            try:
                return await self.call(action)
            except (StaleElementReferenceException, NoSuchElementException):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    async def screenshot(self, name: str, size: tuple[int, int]) -> Path:
        path = artifacts_dir() / f"{name}.png"

        def shoot(d: WebDriver) -> None:
            d.set_window_size(*size)
            height = d.execute_script("return document.documentElement.scrollHeight")
            d.set_window_size(size[0], max(size[1], int(height)))
            d.save_screenshot(str(path))
            d.set_window_size(*size)

        await self.call(shoot)
        return path


@contextlib.contextmanager
def chromium(language: str = "en", size: tuple[int, int] = DESKTOP) -> Iterator[Browser]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # runs as root in CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--no-first-run",
        f"--lang={language}",
        f"--window-size={size[0]},{size[1]}",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
