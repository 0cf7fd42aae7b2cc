"""GetDiagnostics uploads a bundle over HTTP and FTP to real servers on loopback."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from edge_controller.sim.csms import BenchCsms
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_csms,
    running_uplink,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.integration


class Bundle:
    async def files(self) -> Mapping[str, bytes]:
        return {"edge.log": b"line one\nline two\n", "config.yaml": b"ocpp:\n  password: ***\n"}


@asynccontextmanager
async def http_sink() -> AsyncIterator[tuple[str, dict[str, bytes]]]:
    received: dict[str, bytes] = {}

    async def take(request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        received[upload.filename] = upload.file.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/diag", take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/diag", received
    finally:
        await runner.cleanup()


@asynccontextmanager
async def ftp_sink() -> AsyncIterator[tuple[str, dict[str, bytes]]]:
    """Just enough of an FTP server (RFC 959, passive mode) to receive one STOR."""
    received: dict[str, bytes] = {}

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data_server: asyncio.Server | None = None
        payload: asyncio.Queue[bytes] = asyncio.Queue()

        async def data(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await payload.put(await r.read())
            w.close()

        def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        say("220 ready")
        while line := (await reader.readline()).decode().strip():
            verb, _, arg = line.partition(" ")
            if verb == "USER":
                say("331 password please")
            elif verb == "PASS":
                say("230 logged in" if arg == "pw" else "530 no")
            elif verb in ("TYPE", "CWD"):
                say("200 ok" if verb == "TYPE" else "250 ok")
            elif verb == "PASV":
                data_server = await asyncio.start_server(data, "127.0.0.1", 0)
                port = data_server.sockets[0].getsockname()[1]
                say(f"227 Entering Passive Mode (127,0,0,1,{port // 256},{port % 256})")
            elif verb == "STOR":
                say("150 go ahead")
                received[arg] = await payload.get()
                say("226 stored")
            elif verb == "QUIT":
                say("221 bye")
                break
            else:
                say("502 not implemented")
            await writer.drain()
        if data_server is not None:
            data_server.close()
        writer.close()

    server = await asyncio.start_server(control, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ftp://edge:pw@127.0.0.1:{port}/uploads", received
    finally:
        server.close()


def _statuses(csms: BenchCsms) -> list[str]:
    return [c[2]["status"] for c in csms.record.calls if c[1] == "DiagnosticsStatusNotification"]


@pytest.mark.parametrize("sink", [http_sink, ftp_sink])
async def test_get_diagnostics_uploads_the_bundle(tmp_path: Path, sink: object) -> None:
    csms = BenchCsms()
    async with (
        sink() as (location, received),  # type: ignore[operator]
        running_csms(csms) as port,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{port}", password="never-in-the-bundle-1")
        async with running_uplink(
            settings, FakeSite(), outbox, tmp_path, {"c1": 1}, diagnostics=Bundle()
        ) as uplink:
            await wait_for(lambda: uplink.online)
            answer = await csms.send("site1", "GetDiagnostics", {"location": location})
            await wait_for(lambda: _statuses(csms)[-1:] == ["Uploaded"])
    assert re.fullmatch(r"diagnostics-site1-\d{8}T\d{6}\.zip", answer["fileName"])
    assert _statuses(csms) == ["Uploading", "Uploaded"]
    data = received[answer["fileName"]]
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert set(names) == {"edge.log", "config.yaml", "ocpp-configuration.json", "outbox.json"}
    assert b"never-in-the-bundle-1" not in data


async def test_unreachable_location_reports_upload_failed(tmp_path: Path) -> None:
    csms = BenchCsms()
    async with running_csms(csms) as port, open_outbox(tmp_path / "db.sqlite") as outbox:
        settings = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}) as uplink:
            await wait_for(lambda: uplink.online)
            await csms.send(
                "site1",
                "GetDiagnostics",
                {"location": "http://127.0.0.1:9/x", "retries": 1, "retryInterval": 0},
            )
            await wait_for(lambda: _statuses(csms)[-1:] == ["UploadFailed"])
            firmware = await csms.send(
                "site1", "TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}
            )
            assert firmware == {"status": "Accepted"}
            await wait_for(lambda: len(_statuses(csms)) == 3)
    assert _statuses(csms) == ["Uploading", "UploadFailed", "UploadFailed"]
