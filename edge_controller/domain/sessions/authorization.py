"""Authorization decisions: pure, with the reason carried in the result.

``decide()`` combines what is known about a token — the CSMS answer (if online), the local
authorization list, the authorization cache — with the site's offline policy. The caller looks
the token up in its stores and passes the entries in; nothing here reads a clock or a disk.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace

from edge_controller.domain.model import Token


class AuthStatus(enum.Enum):
    """OCPP 1.6 AuthorizationStatus."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


@dataclass(frozen=True, slots=True)
class AuthEntry:
    """An idTagInfo: from the CSMS, the local list or the cache."""

    id_tag: str
    status: AuthStatus
    expiry_at_s: float | None = None
    parent_id_tag: str | None = None
    # The OCPP 2.x IdTokenEnumType the entry was given for ("KeyCode", "ISO14443"...); None: an
    # untyped entry (a 1.6 list names tokens by value only). See ``tokens.matching``.
    token_type: str | None = None

    def status_at(self, now_s: float) -> AuthStatus:
        expired = self.expiry_at_s is not None and now_s >= self.expiry_at_s
        if self.status is AuthStatus.ACCEPTED and expired:
            return AuthStatus.EXPIRED
        return self.status


AuthResult = AuthEntry
"""What the CSMS answered to Authorize (same fields as a list entry)."""

KEY_CODE_TYPE = "KeyCode"
CARD_TYPE = "ISO14443"
# What a PC/SC reader reads: it cannot tell the two card standards apart.
_CARD_TYPES = frozenset({CARD_TYPE, "ISO15693"})
_CARD_SOURCES = frozenset({"uid", "atr"})


def token_type_of(token: Token) -> str:
    """The OCPP 2.x type ``token`` is asked about (Authorize) and cached under: KeyCode for a
    typed code, ISO14443 for the rest (what the site has always sent)."""
    return KEY_CODE_TYPE if token.key_code else CARD_TYPE


def matches(entry: AuthEntry, token: Token) -> bool:
    """Whether a list or cache entry with ``token``'s value speaks for ``token`` (OCPP 2.x:
    an id token is its type and value). A key code matches only a KeyCode entry, and nothing
    else matches one; a card read by a reader matches a card entry (ISO14443/ISO15693) or an
    untyped one; an id given without a type (MQTT, web, the CSMS) any entry but a KeyCode.
    Untyped entries come from 1.6, whose lists name tokens by value only: there they match
    every token that is not a key code, as 1.6 itself has no key codes."""
    if token.key_code or entry.token_type == KEY_CODE_TYPE:
        return token.key_code and entry.token_type == KEY_CODE_TYPE
    if token.extra.get("source") in _CARD_SOURCES:
        return entry.token_type is None or entry.token_type in _CARD_TYPES
    return True


def matching(entries: Iterable[AuthEntry], token: Token) -> AuthEntry | None:
    """The entry of ``entries`` (all with ``token``'s value) that speaks for ``token``: one
    of the token's own type first, then another typed one, then an untyped one."""
    own = token_type_of(token)
    fitting = [e for e in entries if matches(e, token)]
    fitting.sort(key=lambda e: (e.token_type != own, e.token_type is None, e.token_type or ""))
    return fitting[0] if fitting else None


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """Offline behaviour, as OCPP 1.6 configuration keys describe it (names in comments)."""

    local_list_enabled: bool = True  # LocalAuthListEnabled
    cache_enabled: bool = True  # AuthorizationCacheEnabled
    local_pre_authorize: bool = True  # LocalPreAuthorize: list/cache answer without waiting
    offline_authorize_from_list: bool = True  # LocalAuthorizeOffline
    allow_unknown_offline: bool = False  # AllowOfflineTxForUnknownId
    unknown_offline_energy_cap_wh: int | None = None
    free_vend_id_tag: str | None = None  # every token is accepted, recorded as this id
    stop_on_invalid: bool = True  # StopTransactionOnInvalidId
    # AuthCtrlr.MasterPassGroupId: a token of this group stops sessions and starts none.
    master_pass_group_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuthDecision:
    accepted: bool
    id_tag: str
    reason: str
    status: AuthStatus
    parent_id_tag: str | None = None
    offline: bool = False
    energy_cap_wh: int | None = None
    cache: AuthEntry | None = None
    """An entry the caller should store in the authorization cache (None: store nothing)."""
    master_pass: bool = False
    """A valid token of the master pass group: refused for a start, it may stop any session."""


def _from_entry(
    token: Token, entry: AuthEntry, now_s: float, source: str, policy: AuthPolicy
) -> AuthDecision:
    status = entry.status_at(now_s)
    valid = status is AuthStatus.ACCEPTED
    master = valid and in_master_pass_group(entry.parent_id_tag, policy)
    said = ", master pass: stops, never starts" if master else ""
    return AuthDecision(
        accepted=valid and not master,
        id_tag=token.id_tag,
        reason=f"{source}: {status.value}{said}",
        status=status,
        parent_id_tag=entry.parent_id_tag,
        master_pass=master,
    )


def in_master_pass_group(group: str | None, policy: AuthPolicy) -> bool:
    """Whether a token of ``group`` is a master pass (OCPP 2.0.1 C16: it may stop any session
    and start none)."""
    master = policy.master_pass_group_id
    return bool(master) and group is not None and group.upper() == (master or "").upper()


def decide(
    token: Token,
    local: AuthEntry | None,
    cached: AuthEntry | None,
    online: AuthResult | None,
    policy: AuthPolicy,
    *,
    now_s: float,
) -> AuthDecision:
    """Decide whether ``token`` may charge.

    ``local``/``cached``: the token's local-list and cache entries (None if absent).
    ``online``: the CSMS answer, None when offline or it timed out.
    """
    if policy.free_vend_id_tag is not None:
        return AuthDecision(True, policy.free_vend_id_tag, "free vend", AuthStatus.ACCEPTED)
    if online is not None:
        decision = _from_entry(token, online, now_s, "csms", policy)
        keep = policy.cache_enabled and not token.random_uid
        return _with_cache(decision, online if keep else None)
    known = pre_authorize(token, local, cached, policy, now_s)
    if known is not None and policy.offline_authorize_from_list:
        return _offline(known)
    if known is not None and not known.accepted:
        return _offline(known)
    if policy.allow_unknown_offline:
        return AuthDecision(
            True,
            token.id_tag,
            "offline: unknown id allowed",
            AuthStatus.ACCEPTED,
            offline=True,
            energy_cap_wh=policy.unknown_offline_energy_cap_wh,
        )
    return AuthDecision(
        False, token.id_tag, "offline: unknown id refused", AuthStatus.INVALID, offline=True
    )


def pre_authorize(
    token: Token,
    local: AuthEntry | None,
    cached: AuthEntry | None,
    policy: AuthPolicy,
    now_s: float,
) -> AuthDecision | None:
    """A local answer (list first, then cache) or None when neither knows the token.

    Online with ``local_pre_authorize``, an accepted answer here lets charging start at once.
    """
    if local is not None and policy.local_list_enabled:
        return _from_entry(token, local, now_s, "local list", policy)
    if cached is not None and policy.cache_enabled and not token.random_uid:
        decision = _from_entry(token, cached, now_s, "cache", policy)
        # An expired cache entry says nothing certain; let the CSMS or the policy decide.
        return decision if decision.status is not AuthStatus.EXPIRED else None
    return None


def late_answer_stops(online: AuthResult, policy: AuthPolicy, now_s: float) -> bool:
    """Whether a running session must stop now that the CSMS answered ``online`` for its id
    (StopTransactionOnInvalidId), e.g. a session started offline and refused later."""
    return policy.stop_on_invalid and online.status_at(now_s) is not AuthStatus.ACCEPTED


def same_owner(
    started_by: str, started_parent: str | None, tag: str, tag_parent: str | None
) -> bool:
    """Whether ``tag`` may stop a session started by ``started_by`` (same id or same group)."""
    if tag.upper() == started_by.upper():
        return True
    return (
        started_parent is not None
        and tag_parent is not None
        and (started_parent.upper() == tag_parent.upper())
    )


def _offline(decision: AuthDecision) -> AuthDecision:
    return replace(decision, offline=True, reason=f"offline, {decision.reason}")


def _with_cache(decision: AuthDecision, entry: AuthEntry | None) -> AuthDecision:
    return replace(decision, cache=entry)
