"""Client side of the status socket, for the `status` command and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from edge_controller.api.codec import site_from_json
from edge_controller.domain.snapshot import SiteView


class DaemonNotRunning(Exception):
    """Nobody answers on the status socket."""


class DaemonNotAnswering(DaemonNotRunning):
    """Something listens on the status socket but did not answer in time: a daemon that is
    busy or stuck still owns its buses."""


async def fetch_status(socket_path: Path, timeout_s: float = 3.0) -> SiteView:
    data = await fetch_json(socket_path, "/status", timeout_s)
    return site_from_json(data)


async def fetch_json(socket_path: Path, path: str, timeout_s: float = 3.0) -> Any:
    connector = aiohttp.UnixConnector(path=str(socket_path))
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.get(f"http://daemon{path}") as response,
        ):
            response.raise_for_status()
            return await response.json()
    except TimeoutError as exc:  # before ClientConnectionError: a server timeout is both
        raise DaemonNotAnswering(f"no answer on {socket_path} within {timeout_s:g} s") from exc
    except (aiohttp.ClientConnectionError, FileNotFoundError) as exc:
        raise DaemonNotRunning(f"no daemon answers on {socket_path}: {exc}") from exc


async def post_json(socket_path: Path, path: str, body: Any, timeout_s: float) -> Any:
    """POST ``body`` as JSON; a refusal (4xx) raises ValueError with the daemon's reason."""
    connector = aiohttp.UnixConnector(path=str(socket_path))
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.post(f"http://daemon{path}", json=body) as response,
        ):
            if 400 <= response.status < 500:
                raise ValueError(await _reason(response))
            response.raise_for_status()
            return await response.json()
    except TimeoutError as exc:  # before ClientConnectionError: a server timeout is both
        raise DaemonNotAnswering(f"no answer on {socket_path} within {timeout_s:g} s") from exc
    except (aiohttp.ClientConnectionError, FileNotFoundError) as exc:
        raise DaemonNotRunning(f"no daemon answers on {socket_path}: {exc}") from exc


async def _reason(response: aiohttp.ClientResponse) -> str:
    if response.content_type == "application/json":
        return str((await response.json()).get("error"))
    return f"{response.status} {response.reason}"
