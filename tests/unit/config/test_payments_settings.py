"""The payments section: a terminal's keys are checked and each problem names its key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edge_controller.app.config_report import check_lines
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
# Every connector a terminal serves needs a tariff (tested below).
DEFAULT_TARIFF = "{id: standard, currency: EUR, energy: {prices: [{price_per_kwh: 0.4}]}}"
PRICED = GOOD + f"tariffs:\n  default: {DEFAULT_TARIFF}\n"


def test_a_terminal_is_read_with_its_defaults(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(PRICED + TERMINAL), PROFILES)
    terminal = settings.payments.terminals["entrance"]
    assert terminal.port == 20007
    assert terminal.pre_authorisation_amount == Decimal("50.00")
    assert terminal.connectors == ["wb1:1", "wb2:1"]
    assert "123456" in settings.secrets()
    assert terminal.auto_arm  # a public site's terminal arms itself for the waiting EV


def test_check_config_says_whether_a_terminal_arms_itself(write_config: WriteConfig) -> None:
    on = load_settings(write_config(PRICED + TERMINAL), PROFILES)
    (line,) = [x for x in check_lines(on) if x.startswith("terminal entrance:")]
    assert line == (
        "terminal entrance: zvt 192.0.2.10:20007 → wb1:1, wb2:1, pre-authorisation 50.00 EUR, "
        "arms itself for the only waiting EV"
    )
    off = TERMINAL + "      auto_arm: false\n"
    (line,) = [x for x in check_lines(load_settings(write_config(PRICED + off), PROFILES))
               if x.startswith("terminal entrance:")]  # fmt: skip
    assert line.endswith("armed from the display")
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(PRICED + TERMINAL + "      auto_arm: maybe\n"), PROFILES)
    assert "payments.terminals.entrance.auto_arm" in by_path(info.value.issues)


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
        load_settings(write_config(PRICED + TERMINAL.replace(*change)), PROFILES)
    issues = by_path(info.value.issues)
    assert key in issues, list(issues)
    assert reason in issues[key].reason


def test_a_connector_has_one_terminal(write_config: WriteConfig) -> None:
    second = TERMINAL.replace("payments:\n  terminals:\n", "").replace("entrance", "exit")
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(PRICED + TERMINAL + second), PROFILES)
    issues = by_path(info.value.issues)
    assert "already served by entrance" in issues["payments.terminals.exit.connectors[0]"].reason


TARIFF = """\
tariffs:
  connectors:
    wb1:
      id: wallbox-1
      currency: EUR
      energy: {prices: [{price_per_kwh: 0.40}]}
"""


def test_a_terminal_connector_without_a_tariff_is_refused(write_config: WriteConfig) -> None:
    """wb1 is priced (by its charger's tariff), wb2 is not: a card paid session there would
    never be priced, so never captured, and its pre-authorisation would stay open."""
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(GOOD + TERMINAL + TARIFF), PROFILES)
    issues = by_path(info.value.issues)
    assert "payments.terminals.entrance.connectors[0]" not in issues
    reason = issues["payments.terminals.entrance.connectors[1]"].reason
    assert "connector 'wb2:1' has no tariff" in reason and "never be captured" in reason


def test_a_default_tariff_prices_every_terminal_connector(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(PRICED + TERMINAL), PROFILES)
    assert settings.payments.terminals["entrance"].connectors == ["wb1:1", "wb2:1"]
