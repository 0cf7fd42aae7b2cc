"""GetLog on OCPP 2.0.1/2.1: the diagnostics bundle (the one 1.6's GetDiagnostics sends) is
uploaded by HTTP(S) PUT to the CSMS's location, with LogStatusNotification for each step.

One upload at a time: a new GetLog cancels the running one (answered AcceptedCanceled, and the
cancelled request reported AcceptedCanceled). No security log is kept, so SecurityLog (and 2.1's
DataCollectorLog) is rejected with the reason. The bundle's files carry no timed entries, so
oldestTimestamp/latestTimestamp leave it whole.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from edge_controller.uplink import diagnostics
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.link import IdentityLink, UploadLog
from edge_controller.uplink.rpc import on

if TYPE_CHECKING:
    from edge_controller.uplink.v201.session import Session201

MAX_RETRIES = 5
DEFAULT_RETRY_INTERVAL_S = 60.0
NOT_KEPT = {
    "SecurityLog": "this station keeps no security log",
    "DataCollectorLog": "this station keeps no data collector log",
}


def _rejected(reason: str, info: str) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": {"reasonCode": reason, "additionalInfo": info}}


class LogHandlers201:
    def __init__(self, link: IdentityLink) -> None:
        self.link = link

    @on("GetLog")
    async def on_get_log(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind = str(payload["logType"])
        if kind in NOT_KEPT:
            return _rejected("UnsupportedRequest", NOT_KEPT[kind])
        location = str(payload["log"]["remoteLocation"])
        if urlsplit(location).scheme.lower() not in diagnostics.SCHEMES:
            return _rejected("InvalidURL", "http, https or ftp locations only")
        request_id = int(payload["requestId"])
        replaces = self.link.log_accepted is not None
        self.link.log_accepted = request_id
        name = self._file_name()
        retries = min(int(payload.get("retries", 0)), MAX_RETRIES)
        interval_s = float(payload.get("retryInterval", DEFAULT_RETRY_INTERVAL_S))
        self.link.stage(UploadLog(location, name, request_id, retries, interval_s))
        return {"status": "AcceptedCanceled" if replaces else "Accepted", "filename": name}

    def _file_name(self) -> str:
        stamp = to_iso(self.link.clock.now_s(self.link.now_s()))
        compact = stamp.replace(":", "").replace("-", "")[:15]
        return f"diagnostics-{self.link.identity}-{compact}.zip"


def log_status(link: IdentityLink) -> dict[str, Any]:
    """What a triggered LogStatusNotification says: the upload running, else Idle."""
    if link.log_uploading is None:
        return {"status": "Idle"}
    return {"status": "Uploading", "requestId": link.log_uploading}


async def start_upload(session: Session201, job: UploadLog) -> None:
    """Cancel the upload running (reported AcceptedCanceled), then run ``job`` beside the
    session's other work."""
    link, running = session.link, session.log_task
    cancelled = link.log_uploading
    if running is not None and not running.done():
        running.cancel()
        await asyncio.wait([running])
        if cancelled is not None:
            update = {"status": "AcceptedCanceled", "requestId": cancelled}
            await session.call_quietly("LogStatusNotification", update)
    link.log_uploading = job.request_id
    session.log_task = session.start(upload(session, job))


async def upload(session: Session201, job: UploadLog) -> None:
    link = session.link
    try:
        await _status(session, "Uploading", job.request_id)
        status = "UploadFailure"
        if await _attempts(link, job, await diagnostics.collect(link)):
            status = "Uploaded"
        _ended(link, job.request_id)
        await _status(session, status, job.request_id)
    finally:
        _ended(link, job.request_id)


async def _attempts(link: IdentityLink, job: UploadLog, data: bytes) -> bool:
    where = diagnostics.safe_location(job.location)
    for attempt in range(job.retries + 1):
        if attempt:
            await asyncio.sleep(job.retry_interval_s)
        try:
            await diagnostics.upload(job.location, job.file_name, data, put=True)
        except diagnostics.UploadFailed as exc:
            link.log.warning("log upload failed", location=where, error=str(exc), attempt=attempt)
            continue
        link.log.info("log uploaded", location=where, bytes=len(data), request_id=job.request_id)
        return True
    return False


def _ended(link: IdentityLink, request_id: int) -> None:
    """The upload of ``request_id`` ended (a newer request accepted meanwhile stays)."""
    if link.log_uploading == request_id:
        link.log_uploading = None
    if link.log_accepted == request_id:
        link.log_accepted = None


async def _status(session: Session201, status: str, request_id: int) -> None:
    update = {"status": status, "requestId": request_id}
    await session.call_quietly("LogStatusNotification", update)
