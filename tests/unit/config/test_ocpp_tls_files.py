"""check-config on the OCPP security profile files: each wrong file names its key and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.config.settings import OcppSettings
from tests import pki

PASSWORD = "s3cret-key-0123456"


def _settings(**values: object) -> OcppSettings:
    base: dict[str, object] = {"enabled": True, "url": "wss://csms.example/ocpp", "identity": "s"}
    return OcppSettings(**(base | values))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pki")
    ca = pki.root("root")
    found: dict[str, Path] = {}
    found["ca"], _ = ca.write(directory, "ca")
    found["cert"], found["key"] = pki.client(ca, "s").write(directory, "client")
    _, found["other_key"] = pki.client(ca, "t").write(directory, "other")
    found["garbage"] = directory / "garbage.pem"
    found["garbage"].write_text("not a certificate\n")
    return found


def test_a00_files_that_are_right_load(files: dict[str, Path]) -> None:
    settings = _settings(security_profile=3, ca_file=files["ca"], client_cert_file=files["cert"],
                         client_key_file=files["key"])  # fmt: skip
    assert settings.security_profile == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"security_profile": 2, "password": PASSWORD, "ca_file": "missing"},
         "ca_file: cannot read"),
        ({"security_profile": 2, "password": PASSWORD, "ca_file": "garbage"},
         "ca_file: .* holds no PEM certificate"),
        ({"security_profile": 3, "client_cert_file": "cert", "client_key_file": "garbage"},
         "client_key_file: .* holds no readable PEM private key"),
        ({"security_profile": 3, "client_cert_file": "garbage", "client_key_file": "key"},
         "client_cert_file: .* holds no PEM certificate"),
        ({"security_profile": 3, "client_cert_file": "cert", "client_key_file": "other_key"},
         "client_key_file: the key does not belong to client_cert_file"),
        ({"security_profile": 3, "client_cert_file": "cert"},
         "security profile 3 needs client_cert_file and client_key_file"),
        ({"security_profile": 3}, "security profile 3 needs client_cert_file"),
        ({"security_profile": 2, "password": PASSWORD, "url": "ws://csms.example/ocpp"},
         "need a wss:// url"),
        ({"security_profile": 1, "password": "short"}, "16-20 byte password"),
    ],
)  # fmt: skip
def test_a00_wrong_security_settings_name_the_key(
    files: dict[str, Path], tmp_path: Path, values: dict[str, object], message: str
) -> None:
    resolved = {
        k: (files[v] if v in files else tmp_path / "nowhere.pem") if k.endswith("_file") else v
        for k, v in values.items()
    }
    with pytest.raises(ValueError, match=message):
        _settings(**resolved)
