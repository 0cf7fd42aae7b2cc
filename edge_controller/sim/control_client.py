"""A small async client for the simulator's control interface (used by tests and the demo).

async with SimControlClient("http://127.0.0.1:8750") as sim:
    await sim.plug("wallbox1:1", profile="compact", soc_percent=20)
    state = await sim.state()
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp

from edge_controller.sim.rfid import tap_bound_s

DEFAULT_TIMEOUT_S = 5.0


class SimControlError(RuntimeError):
    """The simulator refused a request (the message is its ``error`` field)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class SimControlClient:
    def __init__(self, base_url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SimControlClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """``timeout_s``: for a request answered only after something it does on the simulator
        (the client's own timeout by default)."""
        if self._session is None:
            raise RuntimeError("use SimControlClient as 'async with'")
        url = f"{self.base_url}{path}"
        timeout = self._timeout if timeout_s is None else aiohttp.ClientTimeout(total=timeout_s)
        request = self._session.request(method, url, json=body, params=params, timeout=timeout)
        async with request as response:
            data: dict[str, Any] = await response.json()
            if response.status >= 400:
                raise SimControlError(response.status, str(data.get("error")))
            return data

    async def state(self) -> dict[str, Any]:
        return await self._call("GET", "/state")

    async def meter(self, meter_id: str) -> dict[str, Any]:
        """One simulated meter's readings (``current_a``, ...) and ``stepped_at_s``."""
        return await self._call("GET", f"/meters/{meter_id}")

    async def connector(self, connector_id: str) -> dict[str, Any]:
        state = await self.state()
        view: dict[str, Any] = state["connectors"][connector_id]
        return view

    async def plug(self, connector_id: str, profile: str | None = None, **ev: Any) -> None:
        """Plug an EV: a named profile from the config and/or inline fields (see README)."""
        body = dict(ev) if profile is None else {"profile": profile, **ev}
        await self._call("POST", f"/connectors/{connector_id}/plug", body)

    async def unplug(self, connector_id: str, immediate: bool = False) -> None:
        await self._call("POST", f"/connectors/{connector_id}/unplug", {"immediate": immediate})

    async def pause(self, connector_id: str, state: str = "B") -> None:
        """The plugged EV stops drawing on its own, showing pilot ``state`` "B" or "C"."""
        await self._call("POST", f"/connectors/{connector_id}/pause", {"state": state})

    async def resume(self, connector_id: str) -> None:
        """The paused EV asks for current again (it follows the offer after its delay)."""
        await self._call("POST", f"/connectors/{connector_id}/resume")

    async def set_base_load(self, l1_a: float, l2_a: float, l3_a: float) -> None:
        await self._call("PUT", "/base_load", {"current_a": [l1_a, l2_a, l3_a]})

    async def clear_base_load(self) -> None:
        await self._call("DELETE", "/base_load")

    async def inject_fault(self, device_id: str, kind: str, **options: Any) -> None:
        await self._call("POST", f"/devices/{device_id}/faults", {"kind": kind, **options})

    async def clear_faults(self, device_id: str, kind: str | None = None) -> None:
        params = {"kind": kind} if kind else None
        await self._call("DELETE", f"/devices/{device_id}/faults", params=params)

    async def device(self, device_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/devices/{device_id}")

    async def registers(
        self, device_id: str, address: int, count: int = 1, table: str = "holding"
    ) -> list[int]:
        params = {"table": table, "address": str(address), "count": str(count)}
        data = await self._call("GET", f"/devices/{device_id}/registers", params=params)
        words: list[int] = data["words"]
        return words

    async def tap(self, reader_id: str, uid: str, hold_s: float = 1.0) -> dict[str, Any]:
        """Hold a card on a simulated reader for ``hold_s`` s (returns after it is lifted). Waits
        for the tap's own bound besides the client's timeout: the answer comes only after the
        hold, and a 5 s hold under a 5 s timeout was answered only when the HTTP exchange fitted
        within aiohttp's rounding of that timeout up to the loop's next whole second."""
        body = {"uid": uid, "hold_s": hold_s}
        timeout_s = self.timeout_s + tap_bound_s(hold_s)
        return await self._call("POST", f"/readers/{reader_id}/tap", body, timeout_s=timeout_s)

    async def terminal(self, terminal_id: str) -> dict[str, Any]:
        """A simulated card terminal's behaviour and ledger (reservations, captures...)."""
        return await self._call("GET", f"/terminals/{terminal_id}")

    async def terminal_behaviour(self, terminal_id: str, behaviour: str) -> None:
        """approve, decline, silent, disconnect, capture_fails, pin_required, busy or
        amount_limit from now on."""
        await self._call("PUT", f"/terminals/{terminal_id}/behaviour", {"behaviour": behaviour})

    async def terminal_card_limit(self, terminal_id: str, card_limit_minor: int) -> None:
        """What the card allows (minor units) while the behaviour is amount_limit."""
        body = {"card_limit_minor": card_limit_minor}
        await self._call("PUT", f"/terminals/{terminal_id}/card_limit", body)

    async def terminal_card_wait(
        self, terminal_id: str, wait_for_card: bool, authorising_s: float = 0.0
    ) -> None:
        """Whether a pre-authorisation waits for ``present_card`` (and how long a read card's
        authorisation takes, during which an abort is refused)."""
        body = {"wait_for_card": wait_for_card, "authorising_s": authorising_s}
        await self._call("PUT", f"/terminals/{terminal_id}/card_wait", body)

    async def present_card(self, terminal_id: str) -> dict[str, Any]:
        """Present a card to a terminal that waits for one (an error when it is not armed)."""
        return await self._call("POST", f"/terminals/{terminal_id}/card")
