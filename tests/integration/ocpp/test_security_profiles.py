"""OCPP 2.0.1 security block A00 (generic security profile rules): profiles 1-3 with real TLS
(certificates made with ``cryptography`` at test time), each refusal logged plainly and told
to the CSMS as a security event through the outbox, once per outage, after it: an untrusted
CSMS certificate, HTTP 401, a refused client certificate, and real handshakes with a server
offering only TLS 1.0/1.1 or only a cipher suite the station does not offer."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.security import SecurityEventKind, SecurityEventRaised
from edge_controller.sim.csms import BenchCsms
from edge_controller.storage.outbox import Outbox
from tests import pki
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import strict_peer
from tests.outbox_events import sampled
from tests.ports import free_port

pytestmark = pytest.mark.integration
PASSWORD = "s3cret-key-0123456"  # 18 bytes: a valid AuthorizationKey
V201 = ("2.0.1",)
Kind = SecurityEventKind


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("pki")
    ca, other = pki.root("csms-root"), pki.root("other-root")
    found: dict[str, Any] = {"dir": directory, "ca": ca}
    for name, issued in (("ca", ca), ("other", other), ("server", pki.server(ca))):
        found[name + "_pem"], found[name + "_key"] = issued.write(directory, name)
    found["client_pem"], found["client_key"] = pki.client(ca, IDENTITY).write(directory, "client")
    return found


def _server_tls(certs: dict[str, Any], *, client_certs: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["server_pem"], certs["server_key"])
    if client_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(certs["ca_pem"])
    return context


@asynccontextmanager
async def csms_on(
    csms: BenchCsms, tls: ssl.SSLContext | None, password: str | None = PASSWORD
) -> AsyncIterator[int]:
    server = await csms.start("127.0.0.1", 0, tls=tls, password=password)
    try:
        yield next(iter(server.sockets)).getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


class Output:
    """Everything logged so far (structlog writes to stdout)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.text = ""

    def read(self) -> str:
        self.text += self._capsys.readouterr().out
        return self.text

    async def until(self, line: str, times: int = 1, timeout_s: float = 20.0) -> None:
        async with asyncio.timeout(timeout_s):
            while self.read().count(line) < times:  # noqa: ASYNC110 - the log
                await asyncio.sleep(0.02)


async def _security_events(outbox: Outbox) -> list[str]:
    pending = await outbox.peek_many(IDENTITY, limit=100)
    return [m.event.kind.value for m in pending if isinstance(m.event, SecurityEventRaised)]


async def _notified(csms: BenchCsms, kind: str, timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while kind not in _notified_kinds(csms):  # noqa: ASYNC110 - a peer's record
            await asyncio.sleep(0.02)


def _notified_kinds(csms: BenchCsms) -> list[str]:
    return [p["type"] for _, a, p in csms.record.calls if a == "SecurityEventNotification"]


async def test_a00_wrong_csms_root_is_refused_and_told_after_the_outage(
    tmp_path: Path, certs: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    output = Output(capsys)
    csms = BenchCsms(versions=V201)
    async with csms_on(csms, _server_tls(certs)) as port, open_outbox(tmp_path / "db") as outbox:
        url = f"wss://127.0.0.1:{port}"
        common = {"version": "2.0.1", "security_profile": 2, "password": PASSWORD}
        wrong = settings_for(url, ca_file=certs["other_pem"], **common)
        async with running_uplink(wrong, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await output.until("CSMS certificate not trusted", times=3)
        assert "BootNotification" not in csms.actions()
        # Three refusals in one outage: one event, kept until a connection is up.
        queued = await _security_events(outbox)
        assert queued == ["StartupOfTheDevice", "InvalidCsmsCertificate"]
        right = settings_for(url, ca_file=certs["ca_pem"], **common)
        async with running_uplink(right, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await _notified(csms, "InvalidCsmsCertificate")
            await asyncio.sleep(0)
    assert _notified_kinds(csms).count("InvalidCsmsCertificate") == 1
    assert _notified_kinds(csms).count("StartupOfTheDevice") >= 1
    assert PASSWORD not in output.read()


def _old_tls_only(context: ssl.SSLContext) -> None:
    with warnings.catch_warnings():  # a CSMS stuck on TLS 1.0/1.1 is what this server plays
        warnings.simplefilter("ignore", DeprecationWarning)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1


def _cipher_we_do_not_offer(context: ssl.SSLContext) -> None:
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("AES128-SHA256")  # RSA key exchange: no forward secrecy, not offered


@contextmanager
def refusing_tls(certs: dict[str, Any], narrow: Callable[[ssl.SSLContext], None]) -> Iterator[int]:
    """A TLS server that refuses every handshake the way ``narrow`` makes it, with the TLS
    alert a real server sends (blocking OpenSSL in a thread: asyncio's server drops the
    connection without the alert, which the station sees as a reset)."""
    context = _server_tls(certs)
    narrow(context)
    port = free_port()
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5.0)
                with contextlib.suppress(ssl.SSLError, OSError):  # the refusal it is for
                    context.wrap_socket(conn, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join()
        listener.close()


REFUSALS = {
    "old_tls": (_old_tls_only, "CSMS offers no TLS version >= 1.2", "InvalidTLSVersion"),
    "no_common_cipher": (
        _cipher_we_do_not_offer, "no TLS cipher suite in common", "InvalidTLSCipherSuite",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_a00_a_csms_with_old_tls_or_no_common_cipher_is_refused_and_told(
    tmp_path: Path, certs: dict[str, Any], capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """A real handshake against a server that offers only TLS 1.0/1.1, or only a cipher suite
    the station does not offer: the refusal is logged as what it is and queued once per
    outage as its security event."""
    narrow, said, kind = REFUSALS[case]
    output = Output(capsys)
    async with open_outbox(tmp_path / "db") as outbox:
        with refusing_tls(certs, narrow) as port:
            settings = settings_for(f"wss://127.0.0.1:{port}", version="2.0.1",
                                    security_profile=2, password=PASSWORD,
                                    ca_file=certs["ca_pem"])  # fmt: skip
            async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
                await output.until(said, times=3)
        assert await _security_events(outbox) == ["StartupOfTheDevice", kind]
    assert "connection reset" not in output.read().lower()
    assert PASSWORD not in output.read()


async def test_a00_wrong_password_gets_401_logged_and_one_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = Output(capsys)
    wrong_password = "wrong-key-0123456789"
    csms = BenchCsms(versions=V201)
    async with csms_on(csms, None) as port, open_outbox(tmp_path / "db") as outbox:
        url = f"ws://127.0.0.1:{port}"
        settings = settings_for(url, version="2.0.1", security_profile=1, password=wrong_password)
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await output.until("CSMS refused our credentials (HTTP 401)", times=3)
        assert await _security_events(outbox) == [
            "StartupOfTheDevice",
            "FailedToAuthenticateAtCsms",
        ]
    assert "BootNotification" not in csms.actions()
    assert wrong_password not in output.read()


async def test_a00_profile_3_without_and_with_the_client_certificate(
    tmp_path: Path, certs: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    output = Output(capsys)
    csms = BenchCsms(versions=V201)
    tls = _server_tls(certs, client_certs=True)
    async with csms_on(csms, tls, None) as port, open_outbox(tmp_path / "db") as outbox:
        url = f"wss://127.0.0.1:{port}"
        without = settings_for(
            url, version="2.0.1", security_profile=2, password=PASSWORD, ca_file=certs["ca_pem"]
        )
        # TLS 1.3: the CSMS checks the certificate after the handshake and just closes.
        async with running_uplink(without, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await output.until("CSMS refused the connection", times=2)
        assert "BootNotification" not in csms.actions()
        with_cert = settings_for(
            url,
            version="2.0.1",
            security_profile=3,
            ca_file=certs["ca_pem"],
            client_cert_file=certs["client_pem"],
            client_key_file=certs["client_key"],
        )
        async with running_uplink(with_cert, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await _notified(csms, "StartupOfTheDevice")
    assert "BootNotification" in csms.actions()
    assert "PRIVATE KEY" not in output.read()


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_a00_every_security_event_passes_the_strict_csms(
    tmp_path: Path, version: str
) -> None:
    """Events queued during an outage (one of every kind) reach a schema-strict CSMS in order
    after the connection is up, with no schema rejection either way (1.6: by its security
    extension, through the same outbox)."""
    protocol = "ocpp" + version
    async with strict_peer(protocols=protocol) as peer, open_outbox(tmp_path / "db") as outbox:
        for kind in SecurityEventKind:
            await outbox.append(IDENTITY, SecurityEventRaised(kind, 1_767_000_000.5, "queued"))
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await wait_for(lambda: len(peer.calls("SecurityEventNotification")) > len(Kind))
            async with asyncio.timeout(10):
                while await _security_events(outbox):  # noqa: ASYNC110 - the outbox
                    await asyncio.sleep(0.02)
    sent = [c["params"] for c in peer.calls("SecurityEventNotification")]
    assert [p["type"] for p in sent[: len(Kind)]] == [k.value for k in SecurityEventKind]
    assert sent[0] == {"type": "StartupOfTheDevice", "timestamp": "2025-12-29T09:20:00.500Z",
                       "techInfo": "queued"}  # fmt: skip
    assert sent[-1]["type"] == "StartupOfTheDevice" and "techInfo" not in sent[-1]
    assert peer.invalid() == []


async def test_a_1_6_csms_without_the_security_extension_holds_nothing_back(
    tmp_path: Path,
) -> None:
    """A 1.6 CSMS that does not know SecurityEventNotification: the event is asked once,
    kept (parked with the CSMS's answer), and the sample queued behind it goes on."""
    unknown = ("SecurityEventNotification",)
    async with strict_peer(unknown_actions=unknown) as peer, open_outbox(tmp_path / "db") as ob:
        await ob.append(IDENTITY, SecurityEventRaised(Kind.RESET_OR_REBOOT, 1_767_000_000.0))
        await ob.append(IDENTITY, sampled(None, 1234))
        settings = settings_for(f"ws://127.0.0.1:{peer.port}")
        async with running_uplink(settings, FakeSite(), ob, tmp_path, {"c1": 1}):
            await wait_for(lambda: len(peer.calls("MeterValues")) == 1)
            parked = await ob.parked(IDENTITY)
    assert [p.event.kind for p in parked if isinstance(p.event, SecurityEventRaised)][:1] == [
        Kind.RESET_OR_REBOOT
    ]
    error = parked[0].last_error or ""
    assert parked[0].attempts == 0  # parked at the first answer, not after the retries
    assert "does not take it" in error and "NotImplemented" in error
    sent = peer.calls("MeterValues")[0]["params"]["meterValue"][0]["sampledValue"][0]
    assert sent["value"] == "1234"
    assert peer.invalid() == []


async def test_a01_basic_auth_password_set_by_the_csms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SetVariables SecurityCtrlr.BasicAuthPassword: checked, never told back nor logged nor
    kept with the other values, used from the next connection."""
    output = Output(capsys)
    new_password = "n3w-Passw0rd-for-2x-station"
    csms = BenchCsms(versions=V201)
    password = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
    async with csms_on(csms, None) as port, open_outbox(tmp_path / "db") as outbox:
        url = f"ws://127.0.0.1:{port}"
        settings = settings_for(url, version="2.0.1", security_profile=1, password=PASSWORD)
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await _notified(csms, "StartupOfTheDevice")
            short = [password | {"attribute_value": "short"}]
            good = [password | {"attribute_value": new_password}]
            refused = await csms.send(IDENTITY, "SetVariables", {"set_variable_data": short})
            taken = await csms.send(IDENTITY, "SetVariables", {"set_variable_data": good})
            told = await csms.send(IDENTITY, "GetVariables", {"get_variable_data": [password]})
        csms.set_password(new_password)  # the CSMS now expects what it set
        boots = csms.actions().count("BootNotification")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            async with asyncio.timeout(20):
                while csms.actions().count("BootNotification") == boots:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
    assert refused["setVariableResult"][0]["attributeStatus"] == "Rejected"
    assert taken["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert told["getVariableResult"][0]["attributeStatus"] == "Rejected"
    assert "attributeValue" not in told["getVariableResult"][0]
    stored = await asyncio.to_thread(_state_files_text, tmp_path)
    assert new_password not in stored and new_password not in output.read()


def _state_files_text(directory: Path) -> str:
    return "".join(p.read_text() for p in directory.glob("ocpp-*.json"))
