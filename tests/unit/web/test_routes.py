"""What the web application serves under /api/v1 is what its OpenAPI document lists, both ways
(the e2e test asks every listed path of the running daemon)."""

from __future__ import annotations

from typing import Any

from edge_controller.app.web import web_command
from edge_controller.config.settings import WebSettings
from edge_controller.domain.commands import Command, CommandResult
from edge_controller.domain.problems import FiledReport, ProblemReport
from edge_controller.domain.snapshot import SiteView
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from edge_controller.web.openapi import document

VIEW = SiteView("s", None, 63.0, None, None)


class Site:
    """A site that never changes: enough to build the application."""

    def current(self) -> SiteView:
        return VIEW

    async def next_view(self) -> SiteView:
        return VIEW


class NoReports:
    async def file(self, report: ProblemReport) -> FiledReport:
        raise NotImplementedError

    async def recent(self, limit: int, open_only: bool) -> list[FiledReport]:
        return []

    async def open_count(self) -> int:
        return 0

    async def handle(self, number: int, wanted: str, by: str, note: str) -> FiledReport | None:
        return None


class NoSessions:
    async def recent(self, limit: int) -> list[dict[str, Any]]:
        return []

    async def receipt(self, session_id: int) -> dict[str, Any] | None:
        return None


class NoCommands:
    async def decide(self, command: Command) -> CommandResult:
        return CommandResult.failure("not here")


def test_every_api_route_is_in_the_document_and_every_documented_path_is_served() -> None:
    hub = DisplayHub(Site(), DisplaySetup("s"), 1.0)
    app = build_app(
        WebSettings(), hub, Sources(NoReports(), NoSessions(), {}, NoCommands(), web_command)
    )
    served = {
        r.canonical.removeprefix("/api/v1")
        for r in app.router.resources()
        if r.canonical.startswith("/api/v1/")
    } - {"/openapi.json"}
    assert served == set(document()["paths"])
    assert {"/display", "/display/report", "/metrics"} <= {
        r.canonical for r in app.router.resources()
    }
