"""Looks a token up (local list, cache, CSMS) and applies the pure authorization decision."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.authorization import (
    AuthDecision,
    AuthPolicy,
    AuthResult,
    decide,
    pre_authorize,
    token_type_of,
)
from edge_controller.domain.sessions.tokens import masked
from edge_controller.log import get_logger
from edge_controller.storage.auth_store import AuthStore

log = get_logger("sessions.auth")
# The rules a CSMS may change (OCPP 1.6 keys); the free-vend tag and energy cap are the site's.
POLICY_RULES = frozenset(
    {
        "local_list_enabled",
        "cache_enabled",
        "local_pre_authorize",
        "offline_authorize_from_list",
        "allow_unknown_offline",
        "stop_on_invalid",
    }
)


class Authorizer(Protocol):
    """The uplink's Authorize request."""

    async def authorize(self, id_tag: str, *, key_code: bool = False) -> AuthResult | None:
        """The CSMS answer (``key_code``: about a typed code), or None when offline or it did
        not answer in time."""
        ...


class TokenAuthorizer:
    def __init__(
        self,
        store: AuthStore,
        authorizer: Authorizer | None,
        policy: AuthPolicy,
        timeout_s: float = 5.0,
    ) -> None:
        self.store = store
        self.policy = policy
        self._authorizer = authorizer
        self._timeout_s = timeout_s

    async def decide(self, token: Token, now_s: float) -> AuthDecision:
        """The one authorization decision of every start (card, CSMS, MQTT, web); each one is
        logged, accepted or refused, with the token masked."""
        decision = await self._decide(token, now_s)
        log.info(
            "token accepted" if decision.accepted else "token refused",
            token=masked(token.id_tag),
            reason=decision.reason,
            offline=decision.offline,
        )
        return decision

    async def _decide(self, token: Token, now_s: float) -> AuthDecision:
        policy = self.policy
        local = await self.store.local_entry_for(token) if policy.local_list_enabled else None
        cacheable = policy.cache_enabled and not token.random_uid
        cached = await self.store.cached_for(token) if cacheable else None
        if policy.free_vend_id_tag is None and policy.local_pre_authorize:
            known = pre_authorize(token, local, cached, policy, now_s)
            if known is not None and (known.accepted or known.master_pass):
                return known
        online = None if policy.free_vend_id_tag else await self._ask(token)
        decision = decide(token, local, cached, online, policy, now_s=now_s)
        if decision.cache is not None:
            await self._cache(token, decision.cache, now_s)
        return decision

    def change_policy(self, changes: Mapping[str, bool]) -> None:
        """Take new rules (OCPP keys changed by the CSMS) for every decision from now on."""
        unknown = set(changes) - POLICY_RULES
        if unknown:
            raise ValueError(f"not an authorization rule: {sorted(unknown)}")
        rules: dict[str, Any] = dict(changes)  # every name checked above: all are bool fields
        self.policy = replace(self.policy, **rules)
        log.info("authorization rules changed", **changes)

    def change_master_pass(self, group_id: str) -> None:
        """AuthCtrlr.MasterPassGroupId set by the CSMS ("": no master pass group)."""
        self.policy = replace(self.policy, master_pass_group_id=group_id or None)
        log.info("master pass group changed", group_set=bool(group_id))

    async def remember(self, token: Token, result: AuthResult, now_s: float) -> None:
        """Cache a CSMS answer that arrived outside ``decide`` (StartTransaction.conf)."""
        if self.policy.cache_enabled and not token.random_uid:
            await self._cache(token, result, now_s)

    async def _cache(self, token: Token, result: AuthResult, now_s: float) -> None:
        """Kept under the type it was asked about: a code's answer is no card's."""
        await self.store.cache_put(replace(result, token_type=token_type_of(token)), now_s)

    async def _ask(self, token: Token) -> AuthResult | None:
        if self._authorizer is None:
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._authorizer.authorize(token.id_tag, key_code=token.key_code)
        except TimeoutError:
            log.warning("authorize timed out; deciding offline", token=masked(token.id_tag))
            return None
