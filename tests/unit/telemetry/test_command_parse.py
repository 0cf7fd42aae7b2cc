"""Command payload validation: only well-formed commands for known connectors pass."""

from __future__ import annotations

from typing import get_args

import pytest

from edge_controller.config.settings import MqttCommand, MqttSettings
from edge_controller.domain.commands import Origin, SetConnectorLimit, SetSiteLimit, StartSession
from edge_controller.telemetry.command_parse import COMMANDS, MAX_PAYLOAD_BYTES, CommandParser

PARSER = CommandParser(["wb1:1", "wb-2:1"], COMMANDS)


def test_topic_form_of_connector_is_accepted() -> None:
    parsed = PARSER.parse("connector_limit", b'{"connector": "wb-2-1", "current_a": 16}')
    assert parsed.command == SetConnectorLimit("wb-2:1", 16.0, origin=Origin.MQTT)


def test_zero_and_null_limits_are_valid() -> None:
    assert PARSER.parse("site_limit", b'{"current_a": 0}').command == SetSiteLimit(0.0, Origin.MQTT)
    parsed = PARSER.parse("connector_limit", b'{"connector": "wb1:1", "current_a": null}')
    assert parsed.command == SetConnectorLimit("wb1:1", None, Origin.MQTT)


def test_request_id_is_kept_even_for_an_invalid_payload() -> None:
    parsed = PARSER.parse("site_limit", b'{"current_a": "lots", "request_id": "abc"}')
    assert parsed.command is None
    assert parsed.request_id == "abc"
    assert parsed.error is not None and "current_a" in parsed.error


@pytest.mark.parametrize(
    "raw",
    [
        b'{"current_a": NaN}',
        b'{"current_a": 1e309}',
        b"[1, 2]",
        b"",
        b'{"current_a": true}',
    ],
)
def test_malformed_numbers_and_shapes_are_refused(raw: bytes) -> None:
    parsed = PARSER.parse("site_limit", raw)
    assert parsed.command is None
    assert parsed.error


def test_oversized_payload_is_refused_before_parsing() -> None:
    parsed = PARSER.parse("session_start", b" " * (MAX_PAYLOAD_BYTES + 1))
    assert parsed.error is not None and "larger" in parsed.error


def test_id_tag_must_be_printable_without_spaces() -> None:
    bad = PARSER.parse("session_start", b'{"connector": "wb1:1", "id_tag": "A B"}')
    good = PARSER.parse("session_start", b'{"connector": "wb1:1", "id_tag": "04A1B2C3"}')
    assert bad.command is None
    assert good.command == StartSession("wb1:1", "04A1B2C3", origin=Origin.MQTT)


def test_the_config_knows_every_command_by_its_name() -> None:
    assert set(get_args(MqttCommand)) == set(COMMANDS)


def test_by_default_mqtt_is_read_only() -> None:
    default = CommandParser(["wb1:1"], MqttSettings().allowed_commands)
    for name in COMMANDS:
        parsed = default.parse(name, b'{"request_id": "r-9"}')
        assert parsed.command is None and parsed.request_id == "r-9"
        assert parsed.error is not None and "not allowed on MQTT" in parsed.error


def test_only_allowed_commands_pass() -> None:
    limits = CommandParser(["wb1:1"], ["connector_limit", "site_limit"])
    start = limits.parse("session_start", b'{"connector": "wb1:1", "id_tag": "04A1B2C3"}')
    assert start.command is None and start.error is not None
    assert "not allowed" in start.error and "connector_limit, site_limit" not in start.error
    assert "site_limit, connector_limit" in start.error  # listed in the documented order
    assert limits.parse("site_limit", b'{"current_a": 20}').command == SetSiteLimit(
        20.0, Origin.MQTT
    )


def test_a_started_id_tag_is_normalised_like_any_other() -> None:
    parsed = PARSER.parse("session_start", b'{"connector": "wb1:1", "id_tag": "04:a1:b2:c3"}')
    assert parsed.command == StartSession("wb1:1", "04A1B2C3", origin=Origin.MQTT)
    too_long = PARSER.parse(
        "session_start", b'{"connector": "wb1:1", "id_tag": "' + b"A" * 21 + b'"}'
    )
    assert too_long.command is None and too_long.error is not None and "20" in too_long.error


def test_a_start_may_name_its_id_a_key_code() -> None:
    parsed = PARSER.parse(
        "session_start", b'{"connector": "wb1:1", "id_tag": "4711", "key_code": true}'
    )
    assert parsed.command == StartSession("wb1:1", "4711", origin=Origin.MQTT, key_code=True)
    plain = PARSER.parse("session_start", b'{"connector": "wb1:1", "id_tag": "4711"}')
    assert plain.command == StartSession("wb1:1", "4711", origin=Origin.MQTT)
