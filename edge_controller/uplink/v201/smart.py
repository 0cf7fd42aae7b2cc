"""SetChargingProfile, ClearChargingProfile, GetChargingProfiles (the ReportChargingProfiles
sent after the answer) and GetCompositeSchedule on 2.x, on the same profile store and
external-limit path as 1.6's (``uplink.smart``): a profile becomes a limit for the load
balancer, never a setpoint of its own.

A TxProfile needs the transaction running on its EVSE; it is kept with the local session id
its transactionId names (2.x transaction ids are the station's own) and ends with the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from edge_controller.domain import limit_schedule as cp
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.handlers.smart import floats
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.rpc import on
from edge_controller.uplink.smart import SmartCharging
from edge_controller.uplink.v16.charging_profiles import PURPOSES as PURPOSES16
from edge_controller.uplink.v201 import charging_profiles as profiles
from edge_controller.uplink.v201.render import session_of

REPORTS_WAITING = 4
Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _rejected(reason_code: str, info: str = "") -> dict[str, Any]:
    status_info: dict[str, Any] = {"reasonCode": reason_code}
    if info:
        status_info["additionalInfo"] = info[:512]
    return {"status": "Rejected", "statusInfo": status_info}


class SmartHandlers201:
    def __init__(self, link: IdentityLink) -> None:
        self.link = link
        self._staged: list[list[dict[str, Any]]] = []
        self._reports: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(REPORTS_WAITING)
        if link.smart is not None:
            link.smart.local_transaction_ids = True

    def _evse_known(self, evse_id: int) -> bool:
        return evse_id == 0 or evse_id in self.link.connector_numbers()

    def _session_on(self, evse_id: int) -> str | None:
        """The local session id running on EVSE ``evse_id``, if one runs."""
        try:
            local = self.link.topology.connector_id(self.link.identity, evse_id)
        except KeyError:  # UnknownConnector among them
            return None
        view = next(iter(self.link.status.connectors_of((local,))), None)
        return view.session_id if view is not None and view.session_id else None

    def _placement_refused(self, evse_id: int, raw: dict[str, Any]) -> dict[str, Any] | None:
        purpose = raw.get("chargingProfilePurpose")
        if purpose == "ChargingStationMaxProfile" and evse_id != 0:
            return _rejected("InvalidValue", "ChargingStationMaxProfile needs evseId 0")
        if purpose != "TxProfile":
            return None
        if evse_id == 0:
            return _rejected("InvalidValue", "a TxProfile needs an EVSE")
        running = self._session_on(evse_id)
        wanted = raw.get("transactionId")
        if running is None or wanted is None or str(session_of(str(wanted))) != running:
            return _rejected("TxNotFound", "no such transaction running on the EVSE")
        return None

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        smart = self.link.smart
        evse_id = int(payload["evseId"])
        raw: dict[str, Any] = floats(payload["chargingProfile"])
        if smart is None:
            return _rejected("UnsupportedRequest", "smart charging is off")
        if not self._evse_known(evse_id):
            return _rejected("UnknownEvse", f"no EVSE {evse_id}")
        refused = self._placement_refused(evse_id, raw)
        if refused is None:
            try:
                stored = profiles.to_stored(evse_id, raw)
                if raw["chargingProfilePurpose"] == "TxProfile":
                    stored["transactionId"] = session_of(str(raw["transactionId"]))
                smart.store.install(evse_id, stored)
            except profiles.ProfileRefused as exc:
                refused = _rejected(exc.reason_code, exc.info)
        if refused is not None:
            self.link.log.warning("charging profile rejected", evse_id=evse_id,
                                  reason=refused["statusInfo"])  # fmt: skip
            return refused
        return {"status": "Accepted"}

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        smart = self.link.smart
        if smart is None:
            return {"status": "Unknown"}
        wanted_id = payload.get("chargingProfileId")
        criteria = payload.get("chargingProfileCriteria") or {}
        evse_id = criteria.get("evseId")
        name = criteria.get("chargingProfilePurpose")
        purpose = PURPOSES16.get(profiles.PURPOSES.get(name or "", ""))
        stack_level = criteria.get("stackLevel")

        def wanted(p: cp.LimitSchedule) -> bool:
            if wanted_id is not None:
                return bool(p.id == wanted_id)
            return (
                evse_id in (None, p.connector)
                and (name is None or purpose is p.purpose)
                and stack_level in (None, p.stack_level)
            )

        return {"status": "Accepted" if smart.store.remove(wanted) else "Unknown"}

    @on("GetChargingProfiles")
    async def on_get_charging_profiles(self, payload: dict[str, Any]) -> dict[str, Any]:
        found = self._matching(payload.get("evseId"), payload["chargingProfile"])
        if not found:
            return {"status": "NoProfiles"}
        if self._reports.full():
            return {"status": "Rejected"}
        self._staged.append(_reports_of(int(payload["requestId"]), found))
        return {"status": "Accepted"}

    def _matching(
        self, evse_id: int | None, criteria: dict[str, Any]
    ) -> dict[int, list[dict[str, Any]]]:
        """The 2.x profiles the criteria select, by EVSE."""
        sources = criteria.get("chargingLimitSource")
        if self.link.smart is None or (sources is not None and "CSO" not in sources):
            return {}
        ids = criteria.get("chargingProfileId")
        found: dict[int, list[dict[str, Any]]] = {}
        for entry in self.link.config.charging_profiles():
            raw = profiles.reported(entry["profile"])
            evse = int(entry["connector"])
            if raw is None or evse_id not in (None, evse):
                continue
            if ids is not None and raw["id"] not in ids:
                continue
            if criteria.get("chargingProfilePurpose") not in (None, raw["chargingProfilePurpose"]):
                continue
            if criteria.get("stackLevel") not in (None, raw["stackLevel"]):
                continue
            found.setdefault(evse, []).append(raw)
        return found

    def release(self) -> None:
        """The answer is out: the reports it accepted may go."""
        for parts in self._staged:
            try:
                self._reports.put_nowait(parts)
            except asyncio.QueueFull:
                self.link.log.warning("charging profile report dropped, too many waiting")
        self._staged.clear()

    async def send_reports(self, call: Call) -> None:
        """Send each accepted request's ReportChargingProfiles in order, until cancelled."""
        while True:
            parts = await self._reports.get()
            for part in parts:
                await call("ReportChargingProfiles", part)

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        smart = self.link.smart
        evse_id = int(payload["evseId"])
        if smart is None:
            return _rejected("UnsupportedRequest", "smart charging is off")
        if not self._evse_known(evse_id):
            return _rejected("UnknownEvse", f"no EVSE {evse_id}")
        unit = str(payload.get("chargingRateUnit") or "A")
        duration_s = int(payload["duration"])
        return {"status": "Accepted", "schedule": await composite(smart, evse_id, duration_s, unit)}


def _reports_of(request_id: int, found: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    evses = sorted(found)
    return [
        {
            "requestId": request_id,
            "chargingLimitSource": "CSO",
            "evseId": evse,
            "chargingProfile": found[evse],
            "tbc": evse != evses[-1],
        }
        for evse in evses
    ]


async def composite(
    smart: SmartCharging, evse_id: int, duration_s: int, unit: str
) -> dict[str, Any]:
    """The CompositeScheduleType of EVSE ``evse_id`` from now for ``duration_s``."""
    core = smart.core
    now_s = core.clock.csms_now_s(core.now_s())
    running = await smart.transaction(evse_id) if evse_id else None
    steps = smart.composite(evse_id, now_s, float(duration_s), running)
    scale_w = smart.electrical.voltage_v * smart.electrical.phases if unit == "W" else 1.0
    return {
        "evseId": evse_id,
        "duration": duration_s,
        "scheduleStart": to_iso(now_s),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": int(offset_s), "limit": round(limit_a * scale_w, 1)}
            for offset_s, limit_a in steps
        ],
    }
