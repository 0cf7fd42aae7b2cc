from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from edge_controller import log

BOUND_AT_IMPORT = log.get_logger("early")  # as every module-level logger is


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """These tests configure the process-wide logger; later tests expect the defaults."""
    yield
    log.configure()
    log.redactor.set_secrets([])


def test_json_lines_carry_component_and_ids_and_hide_secrets() -> None:
    stream = io.StringIO()
    log.configure("debug", "json", stream)
    log.redactor.set_secrets(["topsecret", "topsecret-long"])
    logger = log.get_logger("bus", device="wb1", connector="wb1:1")
    logger.info("connected", url="wss://user:topsecret-long@host", password="whatever", n=3)
    logger.debug("nested", data={"authorization_key": "abc", "note": "topsecret here"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["component"] == "bus" and lines[0]["device"] == "wb1"
    assert lines[0]["connector"] == "wb1:1"
    assert lines[0]["url"] == "wss://user:***@host"
    assert lines[0]["password"] == "***"
    assert lines[0]["n"] == 3
    assert lines[1]["data"] == {"authorization_key": "***", "note": "*** here"}
    assert "topsecret" not in stream.getvalue()
    log.redactor.set_secrets([])


def test_level_filters_and_console_format() -> None:
    stream = io.StringIO()
    log.configure("warning", "console", stream)
    logger = log.get_logger("x")
    logger.info("hidden")
    logger.warning("shown")
    text = stream.getvalue()
    assert "shown" in text and "hidden" not in text
    assert not text.lstrip().startswith("{")


def test_loggers_bound_before_a_reconfigure_follow_its_level_and_format() -> None:
    """What SIGHUP does: a logger bound at import, and one bound by a running service, both
    take the new level and format."""
    stream = io.StringIO()
    log.configure("info", "json", stream)
    service = log.get_logger("service", device="wb1")
    BOUND_AT_IMPORT.debug("hidden before")
    service.info("as json")
    log.configure("debug", "console", stream)
    BOUND_AT_IMPORT.debug("shown after")
    service.debug("as text")
    lines = stream.getvalue().splitlines()
    assert json.loads(lines[0])["event"] == "as json"
    assert "hidden before" not in stream.getvalue()
    assert "shown after" in lines[1] and "component=early" in lines[1]
    assert "as text" in lines[2] and not lines[2].startswith("{")
    log.configure("warning", "json", stream)
    BOUND_AT_IMPORT.info("hidden again")
    assert "hidden again" not in stream.getvalue()


def test_a_reconfigure_keeps_test_capture_working_for_early_loggers() -> None:
    log.configure("warning", "json", io.StringIO())
    with capture_logs() as logs:
        BOUND_AT_IMPORT.info("seen by the capture")
    assert [entry["event"] for entry in logs] == ["seen by the capture"]
