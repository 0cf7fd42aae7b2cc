"""The 2.x device model and authorization list operations: GetVariables, SetVariables,
GetBaseReport and GetReport (answered at once, the NotifyReports sent after the answer),
SendLocalList, GetLocalListVersion and ClearCache on the store 1.6's local list uses.

A session-rule variable (LocalAuthorizeOffline...) is applied by the session side, as a 1.6
ChangeConfiguration of its key is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.tokens import MAX_ID_TAG_CHARS, InvalidToken, normalize_id_tag
from edge_controller.uplink.clock import from_iso, to_iso
from edge_controller.uplink.device_model import report
from edge_controller.uplink.device_model.catalog import (
    ACTUAL,
    BASIC_AUTH_PASSWORD,
    NETWORK_PRIORITY,
)
from edge_controller.uplink.device_model.store import (
    ACCEPTED,
    REBOOT_REQUIRED,
    REJECTED,
    Address,
    DeviceModel,
)
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.rpc import CallFailed, on
from edge_controller.uplink.v16 import config_keys

UNSUPPORTED_VALUE = "UnsupportedValue"  # the reasonCode of a valid value the site cannot follow
ITEMS_PER_MESSAGE = 50  # GetVariables / SetVariables items in one request
SEND_LOCAL_LIST_MAX = 500
REPORTS_WAITING = 4  # requested reports not yet sent; beyond, a request is Rejected
_KNOWN_STATUSES = {s.value for s in AuthStatus}
Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _echo(item: dict[str, Any]) -> dict[str, Any]:
    return {"component": item["component"], "variable": item["variable"]}


def _too_many(items: list[Any]) -> None:
    if len(items) > ITEMS_PER_MESSAGE:
        raise CallFailed("OccurrenceConstraintViolation", f"more than {ITEMS_PER_MESSAGE} items")


class VariableHandlers:
    def __init__(self, link: IdentityLink, model: DeviceModel) -> None:
        self.link = link
        self.model = model
        self._staged: list[list[dict[str, Any]]] = []
        self._reports: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(REPORTS_WAITING)
        self.id_token_chars = MAX_ID_TAG_CHARS  # the connection's version's (set by the station)

    @on("GetVariables")
    async def on_get_variables(self, payload: dict[str, Any]) -> dict[str, Any]:
        items = payload["getVariableData"]
        _too_many(items)
        results = []
        for item in items:
            attribute = item.get("attributeType", ACTUAL)
            found = self.model.get(Address.of(item), attribute)
            result = {"attributeStatus": found.status, "attributeType": attribute, **_echo(item)}
            if found.value is not None:
                result["attributeValue"] = found.value
            results.append(result)
        return {"getVariableResult": results}

    @on("SetVariables")
    async def on_set_variables(self, payload: dict[str, Any]) -> dict[str, Any]:
        items = payload["setVariableData"]
        _too_many(items)
        results = []
        for item in items:
            attribute = item.get("attributeType", ACTUAL)
            status, why = self._set(
                Address.of(item), attribute, str(item["attributeValue"]).strip()
            )
            result = {"attributeStatus": status, "attributeType": attribute, **_echo(item)}
            if why:
                result["attributeStatusInfo"] = {
                    "reasonCode": UNSUPPORTED_VALUE,
                    "additionalInfo": why[:512],
                }
            results.append(result)
        return {"setVariableResult": results}

    def _set(self, address: Address, attribute: str, value: str) -> tuple[str, str]:
        """The status of one change and, for a value the site cannot follow, why."""
        named = (address.component, address.variable)
        if named == BASIC_AUTH_PASSWORD and address.evse is None and attribute == ACTUAL:
            return self._set_password(value), ""
        if named == NETWORK_PRIORITY and address.evse is None and attribute == ACTUAL:
            return self._set_priority(value), ""
        found = self.model.check(address, attribute, value)
        variable = found.variable
        if found.status not in (ACCEPTED, REBOOT_REQUIRED) or variable is None:
            return found.status, found.reason
        key = variable.key or ""
        hook = self.link.session_key_changed
        session_key = attribute == ACTUAL and key in config_keys.SESSION_KEYS
        if session_key and hook is not None and not hook(key, value):
            return REJECTED, ""
        self.model.store_value(variable, attribute, value)
        self.link.log.info("variable set by CSMS", component=address.component,
                           variable=address.variable, attribute=attribute, value=value)  # fmt: skip
        if key == "HeartbeatInterval":
            self.link.heartbeat_changed.set()
        return found.status, ""

    def _set_password(self, value: str) -> str:
        """BasicAuthPassword: 16 to 40 printable characters, kept in the key file and used
        from the next connection; never stored with the other values nor logged."""
        if self.link.auth_key is None or not 16 <= len(value) <= 40 or not value.isprintable():
            self.link.log.warning("BasicAuthPassword rejected (16 to 40 printable characters)")
            return REJECTED
        self.link.auth_key.save(value.encode())
        self.link.log.info("BasicAuthPassword set by CSMS; used from the next connection")
        return ACCEPTED

    def _set_priority(self, value: str) -> str:
        """NetworkConfigurationPriority: stored slots, comma-separated, each once, none below
        the security profile in use; the next connect tries the first."""
        network = self.link.network
        parts = [part.strip() for part in value.split(",")] if value else []
        if network is None or not all(part.isdigit() and len(part) < 6 for part in parts):
            self.link.log.warning("NetworkConfigurationPriority rejected", value=value)
            return REJECTED
        slots = tuple(int(part) for part in parts)
        why = network.why_not_priority(slots)
        if why:
            self.link.log.warning("NetworkConfigurationPriority rejected", value=value, reason=why)
            return REJECTED
        network.set_priority(slots)
        self.link.log.info("network profile priority set by CSMS", slots=list(slots))
        return ACCEPTED

    @on("GetBaseReport")
    async def on_get_base_report(self, payload: dict[str, Any]) -> dict[str, Any]:
        data = report.base_report(self.model, str(payload["reportBase"]))
        return {"status": self._stage(int(payload["requestId"]), data)}

    @on("GetReport")
    async def on_get_report(self, payload: dict[str, Any]) -> dict[str, Any]:
        data = report.custom_report(self.model, payload)
        return {"status": self._stage(int(payload["requestId"]), data)}

    def _stage(self, request_id: int, data: list[dict[str, Any]]) -> str:
        if not data:
            return "EmptyResultSet"
        if self._reports.full():
            return "Rejected"
        now = to_iso(self.link.clock.now_s(self.link.now_s()))
        self._staged.append(list(report.chunks(request_id, now, data)))
        return "Accepted"

    def release(self) -> None:
        """The answer is out: the reports it accepted may go."""
        for parts in self._staged:
            try:
                self._reports.put_nowait(parts)
            except asyncio.QueueFull:
                self.link.log.warning("report dropped, too many waiting")
        self._staged.clear()

    async def send_reports(self, call: Call) -> None:
        """Send each accepted report's NotifyReports in order, until cancelled."""
        while True:
            parts = await self._reports.get()
            for part in parts:
                await call("NotifyReport", part)

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, payload: dict[str, Any]) -> dict[str, Any]:
        store = self.link.auth_lists
        version = 0 if store is None else await store.local_list_version()
        return {"versionNumber": max(version, 0)}

    @on("ClearCache")
    async def on_clear_cache(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.link.auth_lists is None:
            return {"status": "Rejected"}
        await self.link.auth_lists.clear_cache()
        return {"status": "Accepted"}

    @on("SendLocalList")
    async def on_send_local_list(self, payload: dict[str, Any]) -> dict[str, Any]:
        store = self.link.auth_lists
        items = payload.get("localAuthorizationList") or []
        if store is None or len(items) > SEND_LOCAL_LIST_MAX:
            return {"status": "Failed"}
        version = int(payload["versionNumber"])
        try:
            chars = self.id_token_chars
            upserts = [_entry(i, chars) for i in items if "idTokenInfo" in i]
            removals = [_key(i["idToken"], chars) for i in items if "idTokenInfo" not in i]
        except (InvalidToken, ValueError) as exc:
            self.link.log.warning("local list refused", error=str(exc))
            return {"status": "Failed"}
        if payload["updateType"] == "Full":
            await store.replace_local_list(version, upserts)
        elif version <= await store.local_list_version():
            return {"status": "VersionMismatch"}
        else:
            await store.update_local_list(version, upserts, removals)
        self.link.log.info("local list updated", kind=payload["updateType"], version=version,
                           entries=len(items))  # fmt: skip
        return {"status": "Accepted"}


def _key(token: dict[str, Any], chars: int) -> tuple[str, str]:
    """An IdTokenType as the list keeps it: (normalised value, type)."""
    return normalize_id_tag(str(token["idToken"]), chars), str(token["type"])


def _entry(item: dict[str, Any], chars: int) -> AuthEntry:
    info = item["idTokenInfo"]
    status = str(info["status"])
    expiry = info.get("cacheExpiryDateTime")
    group = info.get("groupIdToken")
    return AuthEntry(
        id_tag=normalize_id_tag(str(item["idToken"]["idToken"]), chars),
        # The 2.x statuses 1.6 lacks (Unknown, NoCredit...) refuse the token as Invalid does.
        status=AuthStatus(status) if status in _KNOWN_STATUSES else AuthStatus.INVALID,
        expiry_at_s=from_iso(expiry) if isinstance(expiry, str) else None,
        parent_id_tag=normalize_id_tag(str(group["idToken"]), chars)
        if isinstance(group, dict)
        else None,
        token_type=str(item["idToken"]["type"]),
    )
