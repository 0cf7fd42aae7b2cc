"""GetLog on OCPP 2.0.1/2.1: the diagnostics bundle (the one 1.6's GetDiagnostics sends), or
the security log, is uploaded by HTTP(S) PUT to the CSMS's location, with LogStatusNotification
for each step.

One upload at a time: a new GetLog cancels the running one (answered AcceptedCanceled, and the
cancelled request reported AcceptedCanceled). SecurityLog uploads a zip holding
``security.log``: the identity's security events (``uplink.security_log``) whose time is within
oldestTimestamp and latestTimestamp. The diagnostics bundle's files carry no dated entries, so
the window leaves it whole. 2.1's DataCollectorLog is rejected with the reason.

The upload the CSMS has not been told the end of is kept in the identity's state file (its
request id, and its end once known), so one a kill or power loss cut off is told UploadFailure
after the restart, as one the connection's end cut off is after the reconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from edge_controller.uplink import diagnostics
from edge_controller.uplink.clock import from_iso, to_iso
from edge_controller.uplink.device_model.catalog import LOG_UPLOAD_KEY
from edge_controller.uplink.link import IdentityLink, UploadLog
from edge_controller.uplink.rpc import on
from edge_controller.uplink.security_log import SecurityLog, Window

if TYPE_CHECKING:
    from edge_controller.uplink.v201.session import Session201

MAX_RETRIES = 5
DEFAULT_RETRY_INTERVAL_S = 60.0
SECURITY_LOG = "SecurityLog"
NOT_KEPT = {"DataCollectorLog": "this station keeps no data collector log"}


def _rejected(reason: str, info: str) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": {"reasonCode": reason, "additionalInfo": info}}


class LogHandlers201:
    def __init__(self, link: IdentityLink) -> None:
        self.link = link

    @on("GetLog")
    async def on_get_log(self, payload: dict[str, Any]) -> dict[str, Any]:
        return get_log(self.link, payload)


def get_log(
    link: IdentityLink, payload: dict[str, Any], *, replaces: bool = True
) -> dict[str, Any]:
    """Accept a GetLog (its job staged) or refuse it: the answer. ``replaces``: whether a new
    request may cancel one accepted before (AcceptedCanceled); otherwise it is Rejected."""
    kind, log = str(payload["logType"]), payload["log"]
    if kind in NOT_KEPT:
        return _rejected("UnsupportedRequest", NOT_KEPT[kind])
    security = kind == SECURITY_LOG
    if security and security_log(link) is None:
        return _rejected("UnsupportedRequest", "this station keeps no security log")
    location = str(log["remoteLocation"])
    if urlsplit(location).scheme.lower() not in diagnostics.SCHEMES:
        return _rejected("InvalidURL", "http, https or ftp locations only")
    running = link.log_accepted is not None
    if running and not replaces:
        return _rejected("UploadRunning", "a log upload runs; ask again when it has ended")
    request_id = int(payload["requestId"])
    link.log_accepted = request_id
    link.config.set(LOG_UPLOAD_KEY, str(request_id))  # until its end is told
    name = _file_name(link, "security" if security else "diagnostics")
    retries, interval = payload.get("retries"), payload.get("retryInterval")
    retries = min(0 if retries is None else int(retries), MAX_RETRIES)
    interval_s = DEFAULT_RETRY_INTERVAL_S if interval is None else float(interval)
    oldest, latest = log.get("oldestTimestamp"), log.get("latestTimestamp")
    job = UploadLog(location, name, request_id, retries, interval_s, security,
                    None if oldest is None else from_iso(str(oldest)),
                    None if latest is None else from_iso(str(latest)))  # fmt: skip
    link.stage(job)
    return {"status": "AcceptedCanceled" if running else "Accepted", "filename": name}


def _file_name(link: IdentityLink, what: str) -> str:
    stamp = to_iso(link.clock.now_s(link.now_s()))
    compact = stamp.replace(":", "").replace("-", "")[:15]
    return f"{what}-{link.identity}-{compact}.zip"


def security_log(link: IdentityLink) -> SecurityLog | None:
    return None if link.security is None else link.security.log_file


def security_bundle(link: IdentityLink, job: UploadLog) -> bytes:
    """The zip of the security log's entries within the job's window."""
    kept = security_log(link)
    text = b"" if kept is None else kept.text(Window(job.oldest_s, job.latest_s))
    return diagnostics.bundle({"security.log": text})


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
    await run_upload(session.link, job, _teller(session))


async def report_interrupted_upload(session: Session201) -> None:
    await report_interrupted(session.link, _teller(session))


def _teller(session: Session201) -> Callable[[str, int], Awaitable[None]]:
    async def told(status: str, request_id: int) -> None:
        await _status(session, status, request_id)

    return told


async def run_upload(
    link: IdentityLink, job: UploadLog, told: Callable[[str, int], Awaitable[None]]
) -> None:
    """Upload ``job``'s bundle, each step told by ``told`` (LogStatusNotification)."""
    link.log_uploading = job.request_id
    try:
        await told("Uploading", job.request_id)
        status = "UploadFailure"
        if job.security:
            data = await asyncio.to_thread(security_bundle, link, job)
        else:
            data = await diagnostics.collect(link)
        if await _attempts(link, job, data):
            status = "Uploaded"
        _ended(link, job.request_id)
        _pending(link, job.request_id, status)  # told at the next connect if cut off now
        await told(status, job.request_id)
        _pending(link, job.request_id, "")
    except asyncio.CancelledError:
        # Cut off by the connection's end (a newer GetLog has taken ``log_accepted``, and
        # its canceller reports this one): the CSMS still waits for this upload's end.
        if link.log_accepted == job.request_id:
            link.log_interrupted = job.request_id
        raise
    finally:
        _ended(link, job.request_id)


async def report_interrupted(
    link: IdentityLink, told: Callable[[str, int], Awaitable[None]]
) -> None:
    """After a connect: an upload the last connection's end, or the process's, cut off is told
    UploadFailure (a new GetLog may try again); one whose end was known but not told, that."""
    request_id, link.log_interrupted = link.log_interrupted, None
    status = "UploadFailure"
    kept = (link.config.get(LOG_UPLOAD_KEY) or "").split()
    if request_id is None and link.log_accepted is None and kept and kept[0].isdigit():
        request_id, status = int(kept[0]), kept[1] if len(kept) > 1 else status
    if request_id is not None:
        link.log.warning("log upload cut off", request_id=request_id, status=status)
        await told(status, request_id)
        _pending(link, request_id, "")


def _pending(link: IdentityLink, request_id: int, status: str) -> None:
    """Keep the end of ``request_id`` to be told (``status``; "" once told), unless a newer
    request took its place."""
    kept = (link.config.get(LOG_UPLOAD_KEY) or "").split()
    if kept[:1] == [str(request_id)]:
        link.config.set(LOG_UPLOAD_KEY, f"{request_id} {status}" if status else "")


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
