"""The CSMS-set AuthorizationKey: parsing, its file, and the header it makes."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

from edge_controller.config.settings import OcppSettings
from edge_controller.uplink.auth_key import KeyFile, parse_key
from edge_controller.uplink.connection import connect_kwargs

KEY = b"n3w-key-abcdef-0123"  # 19 bytes


def test_only_16_to_20_bytes_of_hexadecimal_are_a_key() -> None:
    assert parse_key(KEY.hex()) == KEY
    assert parse_key(KEY.hex().upper()) == KEY
    assert parse_key(bytes(range(16)).hex()) == bytes(range(16))
    assert parse_key(bytes(15).hex()) is None  # too short
    assert parse_key(bytes(21).hex()) is None  # too long
    assert parse_key(KEY.hex()[:-1]) is None  # half a byte
    assert parse_key("zz" * 18) is None
    assert parse_key(KEY.decode()) is None  # plain text, not hex


def test_the_key_file_is_private_and_survives(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "ocpp-site.key")
    assert keys.load() is None
    keys.save(KEY)
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert KeyFile(keys.path).load() == KEY
    keys.path.write_bytes(b"short")
    assert keys.load() is None  # unusable: the configured password applies


def test_a_set_key_replaces_the_configured_password() -> None:
    settings = OcppSettings(
        enabled=True, url="ws://127.0.0.1:1", security_profile=1, password="configured-key-0123"
    )

    def user_password(header: str) -> bytes:
        return base64.b64decode(header.removeprefix("Basic ")).split(b":", 1)[1]

    configured = connect_kwargs(settings, "site")["additional_headers"]["Authorization"]
    assert user_password(configured) == b"configured-key-0123"
    binary = bytes(range(200, 220))  # random bytes need not be text
    header = connect_kwargs(settings, "site", binary)["additional_headers"]["Authorization"]
    assert user_password(header) == binary
