"""The status socket's HTTP: well-formed requests answered, anything else refused with a clear
status and the server still serving; bounded in size and in time."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_controller.api import server as server_module
from edge_controller.api.client import DaemonNotRunning, fetch_json, post_json
from edge_controller.api.http_wire import HttpError, parse_head
from edge_controller.api.server import StatusServer
from edge_controller.domain.snapshot import SiteView


@pytest.fixture
def socket_path() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="ss-"))  # Unix socket paths are short
    yield directory / "status.sock"
    shutil.rmtree(directory, ignore_errors=True)


async def _echo(request: dict[str, Any]) -> dict[str, Any]:
    if "fail" in request:
        raise ValueError("no such bus")
    await asyncio.sleep(float(request.get("sleep_s", 0)))
    return {"got": request}


@pytest.fixture
async def served(socket_path: Path) -> AsyncIterator[Path]:
    server = StatusServer(socket_path, lambda: SiteView("s1", None, 40.0, None, None), _echo)
    task = asyncio.create_task(server.run())
    for _ in range(100):
        if os.path.exists(socket_path):  # noqa: ASYNC240 (a stat of a local path)
            break
        await asyncio.sleep(0.01)
    yield socket_path
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not any(t.get_coro().__name__ == "_serve" for t in asyncio.all_tasks())  # type: ignore[union-attr]


async def raw(path: Path, data: bytes, close: bool = True) -> tuple[int, dict[str, Any]]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(data)
    if close:
        writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /status HTTP/1.1\r\nHost: x", None),
        (b"GARBAGE", 400),
        (b"DELETE /status HTTP/1.1", 400),
        (b"GET /status SPDY/3", 400),
        (b"POST /scan HTTP/1.1\r\nContent-Length: 99999", 413),
        (b"POST /scan HTTP/1.1\r\nContent-Length: -1", 400),
        (b"POST /scan HTTP/1.1\r\nTransfer-Encoding: chunked", 411),
        (b"GET /status HTTP/1.1\r\nno colon here", 400),
    ],
)
def test_parse_head(head: bytes, status: int | None) -> None:
    if status is None:
        assert parse_head(head).path == "/status"
        return
    with pytest.raises(HttpError) as info:
        parse_head(head)
    assert info.value.status == status


async def test_status_and_jobs_through_the_client(served: Path) -> None:
    assert (await fetch_json(served, "/status"))["site_id"] == "s1"
    assert await post_json(served, "/scan", {"bus": "a"}, 5.0) == {"got": {"bus": "a"}}
    with pytest.raises(ValueError, match="no such bus"):
        await post_json(served, "/scan", {"fail": 1}, 5.0)


async def test_bad_requests_are_answered_and_the_server_keeps_serving(served: Path) -> None:
    cases = [
        (b"nonsense\r\n\r\n", 400),
        (b"GET /nothing HTTP/1.1\r\n\r\n", 404),
        (b"POST /status HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET /scan HTTP/1.1\r\n\r\n", 405),
        (b"POST /scan HTTP/1.1\r\nContent-Length: 5\r\n\r\n[1,2]", 400),
        (b"POST /scan HTTP/1.1\r\nContent-Length: 3\r\n\r\n{x}", 400),
        (b"POST /scan HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}", 400),  # ended early
        (b"GET /status HTTP/1.1\r\nX: " + b"a" * 10_000 + b"\r\n\r\n", 431),
        (b"POST /scan HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b" " * 5000, 413),
    ]
    for data, status in cases:
        got, body = await raw(served, data)
        assert got == status, (data[:40], body)
        assert body["error"]
    assert (await fetch_json(served, "/status"))["site_id"] == "s1"


async def test_one_job_at_a_time(served: Path) -> None:
    slow = asyncio.create_task(post_json(served, "/scan", {"sleep_s": 1.0}, 5.0))
    await asyncio.sleep(0.3)
    with pytest.raises(ValueError, match="already running"):
        await post_json(served, "/scan", {}, 5.0)
    assert (await fetch_json(served, "/status"))["site_id"] == "s1"  # status is never blocked
    assert (await slow)["got"] == {"sleep_s": 1.0}


async def test_a_request_that_never_ends_is_dropped(
    served: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "REQUEST_TIMEOUT_S", 0.3)
    status, body = await raw(served, b"GET /status HTTP/1.1\r\n", close=False)
    assert status == 408 and "too long" in body["error"]


async def test_a_job_in_flight_ends_with_the_server(socket_path: Path) -> None:
    server = StatusServer(socket_path, lambda: SiteView("s1", None, 40.0, None, None), _echo)
    task = asyncio.create_task(server.run())
    await asyncio.sleep(0.2)
    request = asyncio.create_task(post_json(socket_path, "/scan", {"sleep_s": 30}, 10.0))
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    with pytest.raises(DaemonNotRunning):  # the connection is closed unanswered
        await request
