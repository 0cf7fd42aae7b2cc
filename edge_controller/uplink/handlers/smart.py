"""SetChargingProfile, ClearChargingProfile, GetCompositeSchedule."""

from __future__ import annotations

from typing import Any

from edge_controller.domain import limit_schedule as cp
from edge_controller.uplink.clock import to_iso
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.ocpp_compat import Action, call_result, camel
from edge_controller.uplink.rpc import on
from edge_controller.uplink.v16.charging_profiles import PURPOSES


class SmartHandlers:
    link: IdentityLink

    async def _transaction(self, connector: int) -> tuple[int | None, float] | None:
        """(CSMS transaction id, start) of the session on ``connector``, if one runs."""
        smart = self.link.smart
        assert smart is not None
        return await smart.transaction(connector)

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        smart = self.link.smart
        raw: dict[str, Any] = floats(camel(cs_charging_profiles))
        purpose = raw.get("chargingProfilePurpose")
        valid_connector = connector_id == 0 or connector_id in self.link.connector_numbers()
        if smart is None or not valid_connector:
            return call_result.SetChargingProfile(status="Rejected")
        if (purpose == "ChargePointMaxProfile") != (
            connector_id == 0
        ) and purpose != "TxDefaultProfile":
            return call_result.SetChargingProfile(status="Rejected")
        if purpose == "TxProfile":
            running = await self._transaction(connector_id)
            wanted = raw.get("transactionId")
            if running is None or (wanted is not None and wanted != running[0]):
                return call_result.SetChargingProfile(status="Rejected")
            raw["transactionId"] = running[0]
        try:
            smart.store.install(connector_id, raw)
        except (KeyError, ValueError, TypeError) as exc:
            self.link.log.warning("charging profile rejected", error=str(exc))
            return call_result.SetChargingProfile(status="Rejected")
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> Any:
        smart = self.link.smart
        if smart is None:
            return call_result.ClearChargingProfile(status="Unknown")

        purpose = PURPOSES.get(charging_profile_purpose or "")

        def wanted(p: cp.LimitSchedule) -> bool:
            if id is not None:
                return p.id == id
            return (
                connector_id in (None, p.connector)
                and (charging_profile_purpose is None or purpose is p.purpose)
                and stack_level in (None, p.stack_level)
            )

        removed = smart.store.remove(wanted)
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        smart = self.link.smart
        valid = connector_id == 0 or connector_id in self.link.connector_numbers()
        if smart is None or not valid:
            return call_result.GetCompositeSchedule(status="Rejected")
        now_s = self.link.clock.csms_now_s(self.link.now_s())
        transaction = await self._transaction(connector_id) if connector_id else None
        steps = smart.composite(connector_id, now_s, float(duration), transaction)
        unit = charging_rate_unit or "A"
        scale = smart.electrical.voltage_v * smart.electrical.phases if unit == "W" else 1.0
        periods = [
            {"start_period": int(offset_s), "limit": round(limit_a * scale, 1)}
            for offset_s, limit_a in steps
        ]
        schedule = {
            "duration": int(duration),
            "start_schedule": to_iso(now_s),
            "charging_rate_unit": unit,
            "charging_schedule_period": periods,
        }
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=to_iso(now_s),
            charging_schedule=schedule,
        )


def floats(data: Any) -> Any:
    """Validated payloads carry Decimals; profiles are stored as plain JSON numbers."""
    if isinstance(data, dict):
        return {k: floats(v) for k, v in data.items()}
    if isinstance(data, list):
        return [floats(v) for v in data]
    if type(data).__name__ == "Decimal":
        return float(data)
    return data
