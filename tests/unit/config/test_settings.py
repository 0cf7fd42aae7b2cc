"""Config validation: every error class reported at once with path, line and reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel

from edge_controller.config.load import load_config, load_settings
from edge_controller.config.settings import Settings
from edge_controller.config.yaml_reader import ConfigError, ConfigIssue
from tests.unit.conftest import PROFILES

WriteConfig = Callable[..., Path]

GOOD = """\
site:
  id: demo
  grid_limit_a: 63
buses:
  rs485:
    type: rtu
    device: /dev/ttyUSB0
    baud: 19200
    parity: E
  lan:
    type: tcp
    host: 127.0.0.1
chargers:
  wb1:
    bus: rs485
    unit_id: 1
    profile: charger_model
  wb2:
    bus: lan
    unit_id: 255
    profile: charger_model
    connectors: 2
meters:
  grid:
    bus: rs485
    unit_id: 2
    profile: meter_model
readers:
  door:
    name_pattern: "Reader 0"
    connectors: ["wb1:1", "wb2:2"]
"""


def problems(path: Path) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, PROFILES)
    return info.value.issues


def by_path(issues: list[ConfigIssue]) -> dict[str, ConfigIssue]:
    return {issue.path: issue for issue in issues}


def test_good_config_loads(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(GOOD), PROFILES)
    assert settings.site.grid_limit_a == 63
    assert settings.buses["rs485"].type == "rtu"
    assert settings.chargers["wb2"].connectors == 2
    assert settings.mqtt_prefix == "edge/demo"


def test_every_error_class_is_reported_at_once_with_lines(write_config: WriteConfig) -> None:
    text = GOOD.replace("  grid_limit_a: 63\n", "  grid_limit_a: -5\n  colour: red\n")
    text = text.replace("    unit_id: 255\n", "    unit_id: 255\n    profile_typo: x\n")
    text = text.replace("    bus: lan\n", "    bus: wifi\n")
    text = text.replace(
        "    unit_id: 2\n    profile: meter_model", "    unit_id: 1\n    profile: nope"
    )
    text = text.replace('"wb2:2"', '"wb9:1"')
    issues = by_path(problems(write_config(text)))
    assert issues["site.grid_limit_a"].line == 3
    assert "greater than 0" in issues["site.grid_limit_a"].reason
    assert issues["site.colour"].reason.startswith("unknown key")
    assert issues["site.colour"].line == 4
    assert issues["chargers.wb2.bus"].reason.startswith("bus 'wifi' is not defined")
    assert "unknown key" in issues["chargers.wb2.profile_typo"].reason
    assert "did you mean 'profile'" in issues["chargers.wb2.profile_typo"].reason
    assert "already used by chargers.wb1" in issues["meters.grid.unit_id"].reason
    assert "unknown device profile 'nope'" in issues["meters.grid.profile"].reason
    assert "connector 'wb9:1' does not exist" in issues["readers.door.connectors[1]"].reason
    assert all(issue.line is not None for issue in issues.values())


def test_wrong_type_and_missing_key(write_config: WriteConfig) -> None:
    text = GOOD.replace("  id: demo\n", "").replace("baud: 19200", "baud: fast")
    issues = by_path(problems(write_config(text)))
    assert issues["site.id"].reason == "required key is missing"
    assert issues["site.id"].line == 1  # points at the section that lacks it
    assert "fast" in issues["buses.rs485.baud"].reason


def test_serial_unit_ids_are_1_to_247(write_config: WriteConfig) -> None:
    text = GOOD.replace("    unit_id: 1\n", "    unit_id: 248\n", 1)
    issues = by_path(problems(write_config(text)))
    assert "1..247" in issues["chargers.wb1.unit_id"].reason


def test_profile_of_the_wrong_kind(write_config: WriteConfig) -> None:
    text = GOOD.replace("profile: meter_model", "profile: charger_model")
    issues = by_path(problems(write_config(text)))
    assert "describes a charger, not a meter" in issues["meters.grid.profile"].reason


def test_yaml11_traps_are_read_as_meant_or_rejected(write_config: WriteConfig) -> None:
    text = GOOD.replace("unit_id: 255", "unit_id: 010").replace("parity: E", "parity: N")
    text = text.replace("site:\n", "mqtt:\n  enabled: yes\nsite:\n")
    settings = load_settings(write_config(text), PROFILES)
    assert settings.chargers["wb2"].unit_id == 10  # not octal 8
    assert settings.buses["rs485"].parity == "N"  # not False
    assert settings.mqtt.enabled is True
    rejected = by_path(
        problems(write_config(GOOD.replace("grid_limit_a: 63", "grid_limit_a: 1:30")))
    )
    assert "1:30" in rejected["site.grid_limit_a"].reason
    accepted = load_settings(
        write_config(GOOD.replace("grid_limit_a: 63", "grid_limit_a: 1e3")), PROFILES
    )
    assert accepted.site.grid_limit_a == 1000.0


def test_nan_and_infinity_are_rejected(write_config: WriteConfig) -> None:
    issues = by_path(problems(write_config(GOOD.replace("grid_limit_a: 63", "grid_limit_a: .nan"))))
    assert "site.grid_limit_a" in issues


def test_duplicate_key_is_an_error(write_config: WriteConfig) -> None:
    issues = by_path(
        problems(write_config(GOOD.replace("  id: demo\n", "  id: demo\n  id: other\n")))
    )
    assert issues["site.id"].line == 3
    assert "duplicate key" in issues["site.id"].reason


def test_environment_overrides_yaml(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_CONTROLLER__SITE__GRID_LIMIT_A", "40")
    monkeypatch.setenv("EDGE_CONTROLLER__BUSES__RS485__BAUD", "9600")
    monkeypatch.setenv("EDGE_CONTROLLER__MQTT__ENABLED", "true")
    settings = load_settings(write_config(GOOD), PROFILES)
    assert settings.site.grid_limit_a == 40
    assert settings.buses["rs485"].baud == 9600
    assert settings.buses["rs485"].parity == "E"  # the rest of the bus still comes from the YAML
    assert settings.mqtt.enabled is True


def test_bad_environment_value_names_the_variable(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_CONTROLLER__SITE__GRID_LIMIT_A", "lots")
    issues = by_path(problems(write_config(GOOD)))
    assert issues["site.grid_limit_a"].origin == "EDGE_CONTROLLER__SITE__GRID_LIMIT_A"
    assert "EDGE_CONTROLLER__SITE__GRID_LIMIT_A" in str(issues["site.grid_limit_a"])


def test_secret_from_file(write_config: WriteConfig, tmp_path: Path) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cr3t-value\n")
    settings = load_settings(write_config(GOOD + f"mqtt:\n  password_file: {secret}\n"), PROFILES)
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" in settings.secrets()
    assert "s3cr3t-value" not in repr(settings)


def test_secret_file_from_credentials_directory(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ocpp").write_text("AuthKey0123456789")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    text = GOOD + "ocpp:\n  password_file: ${CREDENTIALS_DIRECTORY}/ocpp\n"
    settings = load_settings(write_config(text), PROFILES)
    assert settings.ocpp.password is not None
    assert settings.ocpp.password.get_secret_value() == "AuthKey0123456789"


def test_missing_secret_file_and_both_forms(write_config: WriteConfig, tmp_path: Path) -> None:
    text = GOOD + f"mqtt:\n  password_file: {tmp_path}/absent\n"
    issues = by_path(problems(write_config(text)))
    assert "cannot read secret file" in issues["mqtt"].reason
    text = GOOD + f"mqtt:\n  password: x\n  password_file: {tmp_path}/absent\n"
    issues = by_path(problems(write_config(text)))
    assert "not both" in issues["mqtt"].reason
    assert "'x'" not in str(issues["mqtt"])  # secrets are never echoed back


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        for candidate in candidates:
            for inner in [candidate, *getattr(candidate, "__args__", ())]:
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    keys |= _keys(inner)
    return keys


def test_example_config_is_valid_and_documents_every_key() -> None:
    example = Path(__file__).parents[3] / "config" / "example.yaml"
    text = example.read_text(encoding="utf-8")
    load_settings(example)  # the shipped example must itself be a valid config
    undocumented = sorted(key for key in _keys(Settings) if f"{key}:" not in text)
    assert undocumented == []


def test_environment_variable_with_a_misspelt_section_is_refused(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_CONTROLLER__STIE__GRID_LIMIT_A", "10")
    issues = by_path(problems(write_config(GOOD)))
    issue = issues["stie"]
    assert issue.origin == "EDGE_CONTROLLER__STIE__GRID_LIMIT_A"
    assert "unknown section 'stie'; did you mean 'site'?" in issue.reason
    assert "EDGE_CONTROLLER__STIE__GRID_LIMIT_A" in str(issue)


def test_environment_variable_with_a_misspelt_key_is_refused(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_CONTROLLER__SITE__GRID_LIMT_A", "10")
    issues = by_path(problems(write_config(GOOD)))
    assert issues["site.grid_limt_a"].reason.startswith("unknown key")


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, False), (0o600, False)])
def test_a_world_readable_password_file_is_warned_about(
    write_config: WriteConfig, tmp_path: Path, mode: int, warned: bool
) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cr3t-value\n")
    secret.chmod(mode)
    loaded = load_config(write_config(GOOD + f"mqtt:\n  password_file: {secret}\n"), PROFILES)
    warnings = [str(w) for w in loaded.warnings if w.path == "mqtt.password_file"]
    if warned:
        (text,) = warnings
        assert str(secret) in text and "mode 0644" in text and "(line 33)" in text
        assert "s3cr3t-value" not in text
    else:
        assert warnings == []


def test_a_long_wrong_value_is_quoted_shortened(write_config: WriteConfig) -> None:
    text = GOOD.replace("grid_limit_a: 63", "grid_limit_a: '" + "x" * 5000 + "'")
    reason = by_path(problems(write_config(text)))["site.grid_limit_a"].reason
    assert len(reason) < 200 and "5002 characters" in reason


@pytest.mark.parametrize(
    ("role", "mqtt", "most_s"),
    [
        ("child", {}, 5.0),  # back within 5 s of the broker, not a minute
        ("parent", {}, 5.0),
        ("standalone", {}, 60.0),
        ("child", {"reconnect_max_s": 30}, 30.0),  # the installer's own stays
        ("parent", {"reconnect_min_s": 8}, 8.0),  # never below the installer's least
    ],
)
def test_a_gateway_reconnects_to_the_broker_within_seconds_unless_set(
    role: str, mqtt: dict[str, float], most_s: float
) -> None:
    from edge_controller.config.settings import Settings

    site = {"id": "hall-a", "grid_limit_a": 32, "role": role}
    settings = Settings(site=site, mqtt={"enabled": True, **mqtt})  # type: ignore[arg-type]
    assert settings.mqtt.reconnect_max_s == most_s


def test_a_gateways_reconnect_cap_set_in_the_environment_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from edge_controller.config.settings import Settings

    monkeypatch.setenv("EDGE_CONTROLLER__MQTT__RECONNECT_MAX_S", "20")
    site = {"id": "hall-a", "grid_limit_a": 32, "role": "child"}
    assert Settings(site=site).mqtt.reconnect_max_s == 20.0  # type: ignore[arg-type]
