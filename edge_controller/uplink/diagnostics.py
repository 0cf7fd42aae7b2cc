"""GetDiagnostics (1.6) and GetLog (2.x): a zip of what a technician needs, uploaded to the
CSMS's location.

``http``/``https``: one POST, multipart/form-data, field ``file`` (1.6), or one PUT of the zip
itself (2.x). ``ftp``: passive-mode STOR
(stdlib ftplib in a worker thread). Credentials may be given in the URL; they are never logged.
The bundle holds the OCPP state of the identity, the outbox backlog and whatever the daemon's
``DiagnosticsSource`` adds (logs, config with secrets removed, database statistics).
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from edge_controller.uplink.link import IdentityLink

UPLOAD_TIMEOUT_S = 120.0
SCHEMES = ("http", "https", "ftp")


class DiagnosticsSource(Protocol):
    async def files(self) -> Mapping[str, bytes]:
        """Named files for the bundle; secrets must already be removed."""
        ...


class UploadFailed(Exception):
    pass


def bundle(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


def own_files(configuration: Mapping[str, str], backlog: int) -> dict[str, bytes]:
    return {
        "ocpp-configuration.json": json.dumps(configuration, indent=1, sort_keys=True).encode(),
        "outbox.json": json.dumps({"pending_messages": backlog}).encode(),
    }


async def collect(link: IdentityLink) -> bytes:
    """The bundle of one identity: its OCPP state, its backlog and the daemon's files."""
    files = own_files(link.config.items(), await link.outbox.backlog(link.identity))
    if link.diagnostics is not None:
        files.update(await link.diagnostics.files())
    return bundle(files)


def safe_location(location: str) -> str:
    """The location without credentials, for logs."""
    parts = urlsplit(location)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def upload(location: str, name: str, data: bytes, *, put: bool = False) -> None:
    """``put``: HTTP(S) by a PUT of the zip to ``location`` (2.x) instead of a form POST."""
    scheme = urlsplit(location).scheme.lower()
    try:
        if scheme in ("http", "https") and put:
            await _put_http(location, data)
        elif scheme in ("http", "https"):
            await _upload_http(location, name, data)
        elif scheme == "ftp":
            # ftplib's own socket timeout bounds the thread.
            await asyncio.to_thread(_upload_ftp, location, name, data)
        else:
            raise UploadFailed(f"unsupported scheme {scheme!r}")
    except (OSError, TimeoutError, EOFError) as exc:
        raise UploadFailed(f"{type(exc).__name__}: {exc}") from exc


async def _upload_http(location: str, name: str, data: bytes) -> None:
    # Imported here: the HTTP client costs the daemon ~12 MB of memory for an upload that
    # happens when a CSMS asks for diagnostics, if ever.
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/zip")
    timeout = aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(location, data=form) as answer,
        ):
            if answer.status >= 300:
                raise UploadFailed(f"HTTP {answer.status}")
    except aiohttp.ClientError as exc:
        raise UploadFailed(f"{type(exc).__name__}: {exc}") from exc


async def _put_http(location: str, data: bytes) -> None:
    import aiohttp  # see _upload_http

    timeout = aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_S)
    headers = {"Content-Type": "application/zip"}
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.put(location, data=data, headers=headers) as answer,
        ):
            if answer.status >= 300:
                raise UploadFailed(f"HTTP {answer.status}")
    except aiohttp.ClientError as exc:
        raise UploadFailed(f"{type(exc).__name__}: {exc}") from exc


def _upload_ftp(location: str, name: str, data: bytes) -> None:
    # Imported here: about 0.1 MB a daemon whose CSMS never asks for an FTP upload never uses.
    import ftplib

    parts = urlsplit(location)
    try:
        with ftplib.FTP(timeout=UPLOAD_TIMEOUT_S) as ftp:
            ftp.connect(parts.hostname or "", parts.port or 21)
            ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
            if parts.path.strip("/"):
                ftp.cwd(unquote(parts.path))
            ftp.storbinary(f"STOR {name}", io.BytesIO(data))
    except ftplib.Error as exc:
        raise UploadFailed(f"{type(exc).__name__}: {exc}") from exc
