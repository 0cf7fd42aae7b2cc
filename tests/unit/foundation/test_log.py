from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from edge_controller import log


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """These tests configure the process-wide logger; later tests expect the defaults."""
    yield
    structlog.reset_defaults()
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
