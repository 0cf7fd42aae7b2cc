"""Security profiles 1-3 against the bench CSMS with real TLS (certificates made by openssl)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from edge_controller.sim.csms import BenchCsms
from tests.integration.ocpp.harness import FakeSite, open_outbox, running_uplink, settings_for

pytestmark = pytest.mark.integration
PASSWORD = "s3cret-key-0123456"  # 18 bytes: a valid AuthorizationKey


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: Path, name: str) -> None:
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.pem",
        cwd=directory,
    )


def _make_leaf(directory: Path, name: str, ca: str, extension: str) -> None:
    (directory / f"{name}.ext").write_text(extension + "\n")
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        f"/CN={name}",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        cwd=directory,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        f"{ca}.pem",
        "-CAkey",
        f"{ca}.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        f"{name}.pem",
        "-extfile",
        f"{name}.ext",
        cwd=directory,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert shutil.which("openssl"), "openssl is needed to make test certificates"
    directory = tmp_path_factory.mktemp("pki")
    _make_ca(directory, "ca")
    _make_ca(directory, "other_ca")
    _make_leaf(directory, "server", "ca", "subjectAltName=IP:127.0.0.1")
    _make_leaf(directory, "client", "ca", "extendedKeyUsage=clientAuth")
    (directory / "password").write_text(PASSWORD + "\n")
    return directory


def _server_tls(pki: Path, require_client: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    if require_client:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki / "ca.pem")
    return context


@asynccontextmanager
async def csms_with(
    csms: BenchCsms, tls: ssl.SSLContext | None, password: str | None
) -> AsyncIterator[int]:
    server = await csms.start("127.0.0.1", 0, tls=tls, password=password)
    try:
        yield next(iter(server.sockets)).getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _boots(csms: BenchCsms, timeout_s: float = 30.0) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            while "BootNotification" not in csms.actions():  # noqa: ASYNC110 - a peer's record
                await asyncio.sleep(0.02)
    except TimeoutError:
        return False
    return True


async def test_profile_1_basic_auth_and_the_key_never_logged(
    tmp_path: Path, pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csms = BenchCsms()
    async with csms_with(csms, None, PASSWORD) as port, open_outbox(tmp_path / "db") as outbox:
        settings = settings_for(
            f"ws://127.0.0.1:{port}", security_profile=1, password_file=pki / "password"
        )
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            assert await _boots(csms)
    assert PASSWORD not in capsys.readouterr().out


async def test_profile_1_wrong_key_is_refused(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with csms_with(csms, None, PASSWORD) as port, open_outbox(tmp_path / "db") as outbox:
        settings = settings_for(
            f"ws://127.0.0.1:{port}", security_profile=1, password="wrong-key-0123456789"
        )
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            assert not await _boots(csms, timeout_s=1.5)


async def test_profile_2_checks_the_csms_certificate(tmp_path: Path, pki: Path) -> None:
    csms = BenchCsms()
    tls = _server_tls(pki, False)
    async with csms_with(csms, tls, PASSWORD) as port, open_outbox(tmp_path / "db") as outbox:
        url = f"wss://127.0.0.1:{port}"
        wrong = settings_for(
            url, security_profile=2, password=PASSWORD, ca_file=pki / "other_ca.pem"
        )
        async with running_uplink(wrong, FakeSite(), outbox, tmp_path, {"c1": 1}):
            assert not await _boots(csms, timeout_s=1.5)
        right = settings_for(url, security_profile=2, password=PASSWORD, ca_file=pki / "ca.pem")
        async with running_uplink(right, FakeSite(), outbox, tmp_path, {"c1": 1}):
            assert await _boots(csms)


async def test_profile_3_client_certificate(tmp_path: Path, pki: Path) -> None:
    csms = BenchCsms()
    tls = _server_tls(pki, True)
    async with csms_with(csms, tls, None) as port, open_outbox(tmp_path / "db") as outbox:
        settings = settings_for(
            f"wss://127.0.0.1:{port}",
            security_profile=3,
            ca_file=pki / "ca.pem",
            client_cert_file=pki / "client.pem",
            client_key_file=pki / "client.key",
        )
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            assert await _boots(csms)


def test_profile_1_needs_a_16_to_20_byte_key() -> None:
    with pytest.raises(ValueError, match="16-20 byte"):
        settings_for("ws://127.0.0.1:1", security_profile=1, password="short")
    with pytest.raises(ValueError, match="wss"):
        settings_for("ws://127.0.0.1:1", security_profile=2, password=PASSWORD)


async def test_profile_1_key_set_by_the_csms_is_kept_secret_and_used_next_time(
    tmp_path: Path, pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new_key = "n3w-key-abcdef-0123"
    csms = BenchCsms()
    async with csms_with(csms, None, PASSWORD) as port, open_outbox(tmp_path / "db") as outbox:
        settings = settings_for(
            f"ws://127.0.0.1:{port}", security_profile=1, password_file=pki / "password"
        )
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            assert await _boots(csms)
            change = {"key": "AuthorizationKey", "value": new_key.encode().hex()}
            bad = {"key": "AuthorizationKey", "value": "00" * 15}
            assert await csms.send("site1", "ChangeConfiguration", bad) == {"status": "Rejected"}
            assert await csms.send("site1", "ChangeConfiguration", change) == {"status": "Accepted"}
            asked = await csms.send("site1", "GetConfiguration", {"key": ["AuthorizationKey"]})
            everything = await csms.send("site1", "GetConfiguration", {})
        csms.set_password(new_key)  # the CSMS now expects the key it sent
        before = csms.actions().count("BootNotification")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            async with asyncio.timeout(30):
                while csms.actions().count("BootNotification") == before:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
    assert asked["configurationKey"] == [{"key": "AuthorizationKey", "readonly": False}]
    listed = [k for k in everything["configurationKey"] if k["key"] == "AuthorizationKey"]
    assert listed == [{"key": "AuthorizationKey", "readonly": False}]
    stored = await asyncio.to_thread(_config_files_text, tmp_path)
    for secret in (new_key, new_key.encode().hex()):
        assert secret not in stored and secret not in capsys.readouterr().out


def _config_files_text(directory: Path) -> str:
    return "".join(p.read_text() for p in directory.glob("ocpp-*.json"))
