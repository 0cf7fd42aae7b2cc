"""What the web application serves under /api/v1 is what its OpenAPI document lists, both ways,
by method and path (the e2e test asks every listed path of the running daemon and validates its
answers), and the document's schemas describe what the codec writes."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from edge_controller.api.codec import site_to_json
from edge_controller.app.web import web_command
from edge_controller.config.settings import WebSettings
from edge_controller.domain.commands import Command, CommandResult
from edge_controller.domain.problems import FiledReport, ProblemReport
from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView, SiteView
from edge_controller.web import DisplayHub, DisplaySetup, Sources, build_app
from edge_controller.web.openapi import document
from tests.openapi_check import check_answer

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


def served_operations() -> set[tuple[str, str]]:
    hub = DisplayHub(Site(), DisplaySetup("s"), 1.0)
    app = build_app(
        WebSettings(), hub, Sources(NoReports(), NoSessions(), {}, NoCommands(), web_command)
    )
    assert {"/display", "/display/report", "/metrics"} <= {
        r.canonical for r in app.router.resources()
    }
    return {
        (route.method.lower(), route.resource.canonical.removeprefix("/api/v1"))
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.method != "HEAD"
    } - {("get", "/openapi.json")}


def test_every_api_route_is_in_the_document_and_every_documented_operation_is_served() -> None:
    doc = document()
    documented = {(m, path) for path, ops in doc["paths"].items() for m in ops}
    assert served_operations() == documented
    for write in ("/site/limit", "/connectors/{connector_id}/limit"):
        assert "put" in doc["paths"][write]
    for action in ("start", "stop", "enable", "disable", "pay"):
        assert "post" in doc["paths"][f"/connectors/{{connector_id}}/{action}"]


def test_the_documents_schemas_are_valid_json_schemas() -> None:
    for schema in document()["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


FULL = SiteView(
    "s", (10.0, 11.5, 9.0), 63.0, (53.0, 51.5, 54.0), 0.4,
    connectors=(
        ConnectorView(
            "wb1:1", Availability.CHARGING, 16.0, "csms profile 17", (16.0, 15.9, 16.1),
            power_w=11040.0, session_energy_wh=1234.5, session_id="7", id_tag="04A1****",
            at_s=1764200000.5, price={"currency": "EUR"}, session_started_s=1764199000.0,
        ),
        ConnectorView("wb1:2", Availability.FAULTED, 0.0, "fault", fault_text="state F"),
    ),
    devices=(DeviceView("wb1", True, 12, {"timeout": 1}, 3.5, 9.0, 1764200000.0),),
    uplink_online=True, at_s=1764200000.5, grid_voltage_v=(230.0, 231.0, 229.5),
    grid_power_w=-500.0, waiting_for=("meter2",),
)  # fmt: skip


def test_the_site_schema_holds_what_the_codec_writes_and_nothing_else() -> None:
    doc = document()
    shown = site_to_json(FULL)
    check_answer(doc, "get", "/state", 200, shown)
    check_answer(doc, "get", "/connectors", 200, shown["connectors"])
    history = [{"at_s": 1764199990.25, "kind": "timeout", "message": "wb1: no answer (timeout)"}]
    check_answer(doc, "get", "/devices", 200, [shown["devices"][0] | {"error_history": history}])
    with pytest.raises(AssertionError):  # the devices resource always carries the history
        check_answer(doc, "get", "/devices", 200, shown["devices"])
    for drift in (
        shown | {"new_figure_w": 1.0},  # a field the document does not know
        {k: v for k, v in shown.items() if k != "grid_limit_a"},  # one it says is always there
        shown | {"headroom_a": [1.0, 2.0]},  # two phases instead of three
        shown | {"connectors": [shown["connectors"][0] | {"availability": "Sleeping"}]},
    ):
        with pytest.raises(AssertionError):
            check_answer(doc, "get", "/state", 200, drift)
