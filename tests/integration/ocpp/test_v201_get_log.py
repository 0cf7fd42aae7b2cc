"""GetLog on OCPP 2.0.1 and 2.1 against the schema-strict CSMS, with a real HTTP server on
loopback receiving the PUT: the uploaded bytes are the diagnostics bundle, a failing server is
retried then reported UploadFailure, an upload the connection's end cut off is reported
UploadFailure after the reconnect, a second GetLog cancels the first, a triggered
LogStatusNotification says the upload running, and the security log is uploaded with the
events the CSMS was told of, within oldestTimestamp and latestTimestamp."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from edge_controller.uplink.clock import from_iso, to_iso
from tests import pki
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.relay import relay
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer

pytestmark = pytest.mark.integration
VERSIONS = ["ocpp2.0.1", "ocpp2.1"]
SITE_FILES = {"edge.log": b"line one\nline two\n", "config.json": b'{"password": "***"}'}


class Bundle:
    async def files(self) -> Mapping[str, bytes]:
        return SITE_FILES


@dataclass
class Sink:
    """What the HTTP server received: the PUT bodies by path, and every request's path."""

    url: str = ""
    bodies: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


@asynccontextmanager
async def http_sink() -> AsyncIterator[Sink]:
    """``/ok`` stores the body, ``/broken`` answers 500, ``/stuck`` never answers."""
    sink, release = Sink(), asyncio.Event()

    async def take(request: web.Request) -> web.Response:
        sink.requests.append(request.path)
        body = await request.read()
        if request.path == "/broken":
            return web.Response(status=500)
        if request.path == "/stuck":
            await release.wait()  # the client gives up first (the server keeps no timeout)
            return web.Response(status=503)
        sink.bodies[request.path] = body
        return web.Response(status=201)

    app = web.Application()
    app.router.add_put("/{name}", take)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    sink.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield sink
    finally:
        release.set()
        await runner.cleanup()


@asynccontextmanager
async def station(tmp_path: Path, protocol: str) -> AsyncIterator[StrictPeer]:
    site = FakeSite()
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        strict_peer(protocols=protocol) as peer,
    ):
        url = f"ws://127.0.0.1:{peer.port}"
        settings = settings_for(url, version=protocol.removeprefix("ocpp"), password="pw-secret-9")
        chargers = {"c1": 1}
        async with running_uplink(
            settings, site, outbox, tmp_path, chargers, diagnostics=Bundle()
        ) as uplink:
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            yield peer
        assert peer.invalid() == []


async def ask(peer: StrictPeer, action: str, params: dict[str, Any]) -> dict[str, Any]:
    return await peer.ask(IDENTITY, action, params)


def get_log(location: str, request_id: int, **extra: Any) -> dict[str, Any]:
    log = {"remoteLocation": location}
    return {"logType": "DiagnosticsLog", "requestId": request_id, "log": log, **extra}


def statuses(peer: StrictPeer) -> list[tuple[str, int | None]]:
    found = [c["params"] for c in peer.calls("LogStatusNotification")]
    return [(p["status"], p.get("requestId")) for p in found]


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_get_log_puts_the_diagnostics_bundle(tmp_path: Path, protocol: str) -> None:
    async with http_sink() as sink, station(tmp_path, protocol) as peer:
        window = {
            "oldestTimestamp": "2026-01-01T00:00:00Z",
            "latestTimestamp": "2030-01-01T00:00:00Z",
        }
        log = {"logType": "DiagnosticsLog", "requestId": 7,
               "log": {"remoteLocation": f"{sink.url}/ok", **window}}  # fmt: skip
        answer = await ask(peer, "GetLog", log)
        assert answer["status"] == "Accepted"
        assert answer["filename"].startswith(f"diagnostics-{IDENTITY}-")
        await wait_for(lambda: statuses(peer)[-1:] == [("Uploaded", 7)])
    assert statuses(peer) == [("Uploading", 7), ("Uploaded", 7)]
    archive = zipfile.ZipFile(io.BytesIO(sink.bodies["/ok"]))
    names = {"edge.log", "config.json", "ocpp-configuration.json", "outbox.json"}
    assert set(archive.namelist()) == names
    for name, data in SITE_FILES.items():
        assert archive.read(name) == data
    configuration = json.loads(archive.read("ocpp-configuration.json"))
    assert configuration["HeartbeatInterval"]  # the station's own OCPP state
    assert json.loads(archive.read("outbox.json")) == {"pending_messages": 0}
    assert b"pw-secret-9" not in sink.bodies["/ok"]


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_failing_server_is_retried_then_upload_failure(tmp_path: Path, protocol: str) -> None:
    async with http_sink() as sink, station(tmp_path, protocol) as peer:
        request = get_log(f"{sink.url}/broken", 3, retries=2, retryInterval=0)
        assert (await ask(peer, "GetLog", request))["status"] == "Accepted"
        await wait_for(lambda: statuses(peer)[-1:] == [("UploadFailure", 3)])
        triggered = await ask(peer, "TriggerMessage", {"requestedMessage": "LogStatusNotification"})
        assert triggered["status"] == "Accepted"
        await wait_for(lambda: len(statuses(peer)) == 3)
    assert sink.requests == ["/broken"] * 3  # the first try and two retries
    assert statuses(peer) == [("Uploading", 3), ("UploadFailure", 3), ("Idle", None)]


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_second_get_log_cancels_the_running_upload(tmp_path: Path, protocol: str) -> None:
    async with http_sink() as sink, station(tmp_path, protocol) as peer:
        assert (await ask(peer, "GetLog", get_log(f"{sink.url}/stuck", 1)))["status"] == "Accepted"
        await wait_for(lambda: sink.requests == ["/stuck"])
        trigger = {"requestedMessage": "LogStatusNotification"}
        assert (await ask(peer, "TriggerMessage", trigger))["status"] == "Accepted"
        await wait_for(lambda: len(statuses(peer)) == 2)
        assert statuses(peer) == [("Uploading", 1), ("Uploading", 1)]  # the one running
        second = await ask(peer, "GetLog", get_log(f"{sink.url}/ok", 2))
        assert second["status"] == "AcceptedCanceled"
        await wait_for(lambda: statuses(peer)[-1:] == [("Uploaded", 2)])
    assert statuses(peer)[2:] == [("AcceptedCanceled", 1), ("Uploading", 2), ("Uploaded", 2)]
    assert list(sink.bodies) == ["/ok"]


@pytest.mark.parametrize("protocol", ["ocpp1.6", *VERSIONS])
async def test_an_upload_the_connection_loss_cut_off_is_reported_after_the_reconnect(
    tmp_path: Path, protocol: str
) -> None:
    async with (
        http_sink() as sink,
        open_outbox(tmp_path / "db.sqlite") as outbox,
        strict_peer(protocols=protocol) as peer,
        relay(peer.port) as path,
    ):
        settings = settings_for(f"ws://127.0.0.1:{path.port}", version=protocol[4:])
        async with running_uplink(
            settings, FakeSite(), outbox, tmp_path, {"c1": 1}, diagnostics=Bundle()
        ) as uplink:
            await wait_for(lambda: uplink.online)
            request = get_log(f"{sink.url}/stuck", 7)
            assert (await ask(peer, "GetLog", request))["status"] == "Accepted"
            await wait_for(lambda: sink.requests == ["/stuck"])
            path.cut()
            await wait_for(lambda: not uplink.online)
            path.restore()
            await wait_for(lambda: statuses(peer)[-1:] == [("UploadFailure", 7)])
            trigger = {"requestedMessage": "LogStatusNotification"}
            action = "ExtendedTriggerMessage" if protocol == "ocpp1.6" else "TriggerMessage"
            assert (await ask(peer, action, trigger))["status"] == "Accepted"
            await wait_for(lambda: len(statuses(peer)) == 3)
    assert statuses(peer) == [("Uploading", 7), ("UploadFailure", 7), ("Idle", None)]
    assert sink.bodies == {}
    assert peer.invalid() == []


@pytest.mark.parametrize("protocol", ["ocpp1.6", *VERSIONS])
async def test_an_upload_the_process_end_cut_off_is_reported_after_the_restart(
    tmp_path: Path, protocol: str
) -> None:
    """The accepted upload is kept in the identity's state file until its end is told: a new
    process on that state (what a SIGKILL leaves: nothing on the cancel path writes it) tells
    the CSMS UploadFailure once, and the one after that tells nothing again."""
    async with (
        http_sink() as sink,
        open_outbox(tmp_path / "db.sqlite") as outbox,
        strict_peer(protocols=protocol) as peer,
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=protocol[4:])
        for run in range(3):
            async with running_uplink(
                settings, FakeSite(), outbox, tmp_path, {"c1": 1}, diagnostics=Bundle()
            ) as uplink:
                await wait_for(lambda: uplink.links[IDENTITY].accepted)
                if run == 0:
                    request = get_log(f"{sink.url}/stuck", 7)
                    assert (await ask(peer, "GetLog", request))["status"] == "Accepted"
                    await wait_for(lambda: sink.requests == ["/stuck"])
                if run == 1:
                    await wait_for(lambda: statuses(peer)[-1:] == [("UploadFailure", 7)])
                if run == 2:  # told once: nothing kept any more
                    trigger = {"requestedMessage": "LogStatusNotification"}
                    action = "ExtendedTriggerMessage" if protocol == "ocpp1.6" else "TriggerMessage"
                    assert (await ask(peer, action, trigger))["status"] == "Accepted"
                    await wait_for(lambda: len(statuses(peer)) >= 3)
    assert statuses(peer) == [("Uploading", 7), ("UploadFailure", 7), ("Idle", None)]
    assert sink.bodies == {}
    assert peer.invalid() == []


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_security_log_is_uploaded_within_the_window(tmp_path: Path, protocol: str) -> None:
    """The events kept are those the CSMS was told of, and oldest/latestTimestamp choose among
    them by their time."""
    root = {"certificateType": "CSMSRootCertificate",
            "certificate": pki.root("csms-root").cert_pem().decode()}  # fmt: skip
    async with http_sink() as sink, station(tmp_path, protocol) as peer:
        await wait_for(lambda: len(peer.calls("SecurityEventNotification")) == 1)
        assert (await ask(peer, "InstallCertificate", root))["status"] == "Accepted"
        await wait_for(lambda: len(peer.calls("SecurityEventNotification")) == 2)
        told = [(c["params"]["type"], c["params"]["timestamp"])
                for c in peer.calls("SecurityEventNotification")]  # fmt: skip
        started_at = told[0][1]
        after_start = to_iso(from_iso(started_at) + 0.001)
        windows = [{}, {"oldestTimestamp": after_start},
                   {"latestTimestamp": to_iso(from_iso(started_at) - 0.001)}]  # fmt: skip
        for number, window in enumerate(windows, start=1):
            request = {"logType": "SecurityLog", "requestId": number,
                       "log": {"remoteLocation": f"{sink.url}/s{number}", **window}}  # fmt: skip
            answer = await ask(peer, "GetLog", request)
            assert answer["status"] == "Accepted"
            assert answer["filename"].startswith(f"security-{IDENTITY}-")
            await wait_for(lambda n=number: statuses(peer)[-1:] == [("Uploaded", n)])  # type: ignore[misc]
        if protocol == "ocpp2.1":
            collector = {**get_log(f"{sink.url}/ok", 9), "logType": "DataCollectorLog"}
            refused = await ask(peer, "GetLog", collector)
            assert refused["status"] == "Rejected"
            assert refused["statusInfo"]["reasonCode"] == "UnsupportedRequest"
        wrong = await ask(peer, "GetLog", get_log("file:///etc/passwd", 5))
        assert wrong["status"] == "Rejected"
    kept = [_security_entries(sink.bodies[f"/s{n}"]) for n in (1, 2, 3)]
    assert kept[0] == told
    assert told[1][0] == "ReconfigurationOfSecurityParameters"
    assert kept[1] == told[1:]
    assert kept[2] == []
    assert sorted(sink.requests) == ["/s1", "/s2", "/s3"]


def _security_entries(zipped: bytes) -> list[tuple[str, str]]:
    archive = zipfile.ZipFile(io.BytesIO(zipped))
    assert archive.namelist() == ["security.log"]
    lines = archive.read("security.log").decode().splitlines()
    return [(e["type"], e["timestamp"]) for e in map(json.loads, lines)]


async def test_1_6_security_extension_get_log_uploads_the_security_log(tmp_path: Path) -> None:
    """The same uploads through OCPP 1.6's security extension (GetLog, LogStatusNotification),
    against the strict CSMS in 1.6 mode."""
    async with http_sink() as sink, station(tmp_path, "ocpp1.6") as peer:
        await wait_for(lambda: len(peer.calls("SecurityEventNotification")) == 1)
        (told,) = [(c["params"]["type"], c["params"]["timestamp"])
                   for c in peer.calls("SecurityEventNotification")]  # fmt: skip
        broken = {"logType": "DiagnosticsLog", "requestId": 1, "retries": 0,
                  "log": {"remoteLocation": f"{sink.url}/broken"}}  # fmt: skip
        assert (await ask(peer, "GetLog", broken))["status"] == "Accepted"
        await wait_for(lambda: statuses(peer)[-1:] == [("UploadFailure", 1)])
        security = {"logType": "SecurityLog", "requestId": 2,
                    "log": {"remoteLocation": f"{sink.url}/s"}}  # fmt: skip
        answer = await ask(peer, "GetLog", security)
        assert answer["status"] == "Accepted"
        assert answer["filename"].startswith(f"security-{IDENTITY}-")
        await wait_for(lambda: statuses(peer)[-1:] == [("Uploaded", 2)])
        wrong = {**security, "log": {"remoteLocation": "file:///etc/passwd"}}
        assert (await ask(peer, "GetLog", wrong))["status"] == "Rejected"
    assert statuses(peer) == [("Uploading", 1), ("UploadFailure", 1), ("Uploading", 2),
                              ("Uploaded", 2)]  # fmt: skip
    assert _security_entries(sink.bodies["/s"]) == [told]
