"""The ``web`` section: accounts and tokens from files, TLS as a pair, each problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.config.load import load_config
from edge_controller.web.passwords import hash_password, verify_password
from tests.unit.config.test_settings import GOOD, WriteConfig, by_path, problems
from tests.unit.conftest import PROFILES

TOKEN = "t0ken-for-the-rest-api-0123456789"


def secret(tmp_path: Path, name: str, value: str, mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(mode)
    return path


def web(
    tmp_path: Path,
    *,
    hash_value: str | None = None,
    token: str = TOKEN,
    extra: str = "",
    mode: int = 0o600,
) -> str:
    hashed = secret(tmp_path, "ops.hash", hash_value or hash_password("pass word"), mode)
    token_file = secret(tmp_path, "grafana.token", token, mode)
    return (
        GOOD
        + "web:\n  enabled: true\n  port: 8081\n"
        + f"  accounts:\n    ops:\n      role: operator\n      password_hash_file: {hashed}\n"
        + f"  api_tokens:\n    grafana:\n      token_file: {token_file}\n"
        + extra
    )


def test_accounts_and_tokens_are_read_from_their_files(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    loaded = load_config(write_config(web(tmp_path)), PROFILES)
    settings = loaded.settings
    assert settings.web.api_tokens["grafana"].token.get_secret_value() == TOKEN
    stored = settings.web.accounts["ops"].password_hash.get_secret_value()
    assert verify_password("pass word", stored)
    assert settings.web.accounts["ops"].role == "operator"
    assert TOKEN in settings.secrets() and stored in settings.secrets()  # redacted in logs
    assert TOKEN not in str(settings.model_dump()) and stored not in str(settings.model_dump())
    assert loaded.warnings == []


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"hash_value": "pass word"}, "web.accounts.ops", "does not hold a password hash"),
        ({"token": "short"}, "web.api_tokens.grafana", "at least 24 characters"),
        ({"token": "has a space in it somewhere 123"}, "web.api_tokens.grafana", "no spaces"),
        ({"extra": "  tls_cert_file: /etc/hostname\n"}, "web", "together"),
        ({"extra": "  port: 0\n"}, "web.port", "greater than or equal to 1"),
        ({"extra": "  max_body_bytes: 10\n"}, "web.max_body_bytes", "greater than or equal"),
    ],
)
def test_a_wrong_web_section_names_the_key_and_the_reason(
    write_config: WriteConfig, tmp_path: Path, change: dict[str, str], path: str, reason: str
) -> None:
    text = web(tmp_path, **change)  # type: ignore[arg-type]
    if "port: 0" in change.get("extra", ""):
        text = text.replace("  port: 8081\n", "")
    issues = by_path(problems(write_config(text)))
    assert path in issues, issues
    assert reason in issues[path].reason
    assert "pass word" not in str(issues[path])


def test_a_missing_hash_file_is_an_error(write_config: WriteConfig, tmp_path: Path) -> None:
    text = GOOD + "web:\n  accounts:\n    ops:\n      password_hash_file: /nonexistent/ops\n"
    issue = by_path(problems(write_config(text)))["web.accounts.ops"]
    assert "cannot read secret file /nonexistent/ops" in issue.reason


def test_world_readable_secrets_and_logins_without_tls_on_a_lan_are_warned_about(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    text = web(tmp_path, mode=0o644, extra="  host: 192.0.2.10\n")
    loaded = load_config(write_config(text), PROFILES)
    warned = {w.path: w.reason for w in loaded.warnings}
    assert "readable by every user" in warned["web.accounts.ops.password_hash_file"]
    assert "readable by every user" in warned["web.api_tokens.grafana.token_file"]
    assert "without TLS" in warned["web.host"]
