"""Every answer of the web application carries the security headers, a redirect or an error
raised by a handler too, and answering one raises no deprecation warning (aiohttp deprecates a
middleware that returns an HTTPException instead of raising it)."""

from __future__ import annotations

import warnings

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge_controller.app.web import web_command
from edge_controller.config.settings import WebSettings
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from edge_controller.web.server import SECURITY_HEADERS
from tests.unit.web.test_routes import NoCommands, NoReports, NoSessions, Site

pytestmark = pytest.mark.integration


async def test_raised_redirects_and_errors_carry_the_headers_without_a_warning() -> None:
    hub = DisplayHub(Site(), DisplaySetup("s"), 1.0)
    app = build_app(
        WebSettings(), hub, Sources(NoReports(), NoSessions(), {}, NoCommands(), web_command)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with TestClient(TestServer(app)) as client:
            for path, status in (("/", 302), ("/static/nothing.js", 404), ("/console", 303)):
                async with client.get(path, allow_redirects=False) as response:
                    assert response.status == status, path
                    for name, value in SECURITY_HEADERS.items():
                        assert response.headers.get(name) == value, (path, name)
    deprecated = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert deprecated == [], [str(w.message) for w in deprecated]
