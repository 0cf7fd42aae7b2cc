"""Local Authorization List Management: SendLocalList (full/differential), GetLocalListVersion."""

from __future__ import annotations

from typing import Any

from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.tokens import InvalidToken, normalize_id_tag
from edge_controller.uplink.clock import from_iso
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.ocpp_compat import Action, call_result
from edge_controller.uplink.rpc import on

SEND_LOCAL_LIST_MAX = 500
LOCAL_LIST_MAX = 10000


def _entry(id_tag: str, info: dict[str, Any]) -> AuthEntry:
    expiry = info.get("expiry_date")
    parent = info.get("parent_id_tag")
    return AuthEntry(
        id_tag=normalize_id_tag(id_tag),
        status=AuthStatus(info["status"]),
        expiry_at_s=from_iso(expiry) if isinstance(expiry, str) else None,
        parent_id_tag=normalize_id_tag(parent) if isinstance(parent, str) else None,
    )


class LocalListHandlers:
    link: IdentityLink

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_: Any) -> Any:
        if self.link.auth_lists is None:
            return call_result.GetLocalListVersion(list_version=-1)  # -1: not supported
        return call_result.GetLocalListVersion(
            list_version=await self.link.auth_lists.local_list_version()
        )

    @on(Action.send_local_list)
    async def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        store = self.link.auth_lists
        if store is None:
            return call_result.SendLocalList(status="NotSupported")
        items = local_authorization_list or []
        if len(items) > SEND_LOCAL_LIST_MAX:
            return call_result.SendLocalList(status="Failed")
        try:
            upserts = [_entry(i["id_tag"], i["id_tag_info"]) for i in items if "id_tag_info" in i]
            removals = [normalize_id_tag(i["id_tag"]) for i in items if "id_tag_info" not in i]
        except (InvalidToken, KeyError, ValueError) as exc:
            self.link.log.warning("local list refused", error=str(exc))
            return call_result.SendLocalList(status="Failed")
        if update_type == "Full":
            await store.replace_local_list(list_version, upserts)
        elif list_version <= await store.local_list_version():
            return call_result.SendLocalList(status="VersionMismatch")
        else:
            await store.update_local_list(list_version, upserts, removals)
        self.link.log.info(
            "local list updated", kind=update_type, version=list_version, entries=len(items)
        )
        return call_result.SendLocalList(status="Accepted")
