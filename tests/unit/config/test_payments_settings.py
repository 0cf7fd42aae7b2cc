"""The payments section: a terminal's keys are checked and each problem names its key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edge_controller.config import ConfigError, load_settings
from tests.unit.config.test_settings import GOOD, PROFILES, WriteConfig, by_path

TERMINAL = """\
payments:
  terminals:
    entrance:
      host: 192.0.2.10
      password: "123456"
      connectors: ["wb1:1", "wb2:1"]
      pre_authorisation_amount: "50.00"
"""


def test_a_terminal_is_read_with_its_defaults(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(GOOD + TERMINAL), PROFILES)
    terminal = settings.payments.terminals["entrance"]
    assert terminal.port == 20007
    assert terminal.pre_authorisation_amount == Decimal("50.00")
    assert terminal.connectors == ["wb1:1", "wb2:1"]
    assert "123456" in settings.secrets()


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (("wb2:1", "wb9:1"), "payments.terminals.entrance.connectors[1]", "wb9:1' does not exist"),
        (('"123456"', '"12345"'), "payments.terminals.entrance", "six digits"),
        (('"50.00"', '"50.001"'), "payments.terminals.entrance", "minor units"),
        (('"50.00"', '"0"'), "payments.terminals.entrance.pre_authorisation_amount", "greater"),
        (
            ("      host:", "      colour: red\n      host:"),
            "payments.terminals.entrance.colour",
            "unknown key",
        ),
    ],
)
def test_bad_terminal_keys_are_named(
    write_config: WriteConfig, change: tuple[str, str], key: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(GOOD + TERMINAL.replace(*change)), PROFILES)
    issues = by_path(info.value.issues)
    assert key in issues, list(issues)
    assert reason in issues[key].reason


def test_a_connector_has_one_terminal(write_config: WriteConfig) -> None:
    second = TERMINAL.replace("payments:\n  terminals:\n", "").replace("entrance", "exit")
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(GOOD + TERMINAL + second), PROFILES)
    issues = by_path(info.value.issues)
    assert "already served by entrance" in issues["payments.terminals.exit.connectors[0]"].reason
