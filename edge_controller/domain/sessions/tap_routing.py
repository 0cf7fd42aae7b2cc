"""Which connector a tap belongs to. Pure: time is an argument.

A reader serving one connector routes every tap there. A reader shared by several connectors
routes a tap to:
1. the connector whose running session was started with the same idTag (a stop request);
2. else the connector plugged and waiting for a token (the oldest plug-in, if several);
3. else nowhere yet: the tap is *pending* and is claimed by the next plug-in at any of the
   reader's connectors before ``plug_timeout_s`` has passed.
A newer tap on the same reader replaces its pending one (the person tapped again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edge_controller.domain.model import Token


@dataclass(frozen=True, slots=True)
class ConnectorActivity:
    """What the session layer knows about connectors, as far as routing needs it."""

    waiting_since_s: Mapping[str, float] = field(default_factory=dict)  # plugged, no session
    session_tags: Mapping[str, str] = field(default_factory=dict)  # connector -> session idTag


@dataclass(frozen=True, slots=True)
class PendingTap:
    token: Token
    reader_id: str
    connectors: tuple[str, ...]
    expires_at_s: float


@dataclass(frozen=True, slots=True)
class TapRoute:
    connector_id: str | None  # None: wait for a plug-in (see ``pending``)
    reason: str
    pending: PendingTap | None = None


def route_tap(
    token: Token,
    reader_id: str,
    connectors: Sequence[str],
    activity: ConnectorActivity,
    *,
    at_s: float,
    plug_timeout_s: float,
) -> TapRoute:
    if len(connectors) == 1:
        return TapRoute(connectors[0], "dedicated reader")
    for connector_id in connectors:
        if activity.session_tags.get(connector_id) == token.id_tag:
            return TapRoute(connector_id, f"session on {connector_id} started with this token")
    waiting = sorted(
        (activity.waiting_since_s[c], c) for c in connectors if c in activity.waiting_since_s
    )
    if waiting:
        connector_id = waiting[0][1]
        how = "only" if len(waiting) == 1 else "longest"
        return TapRoute(connector_id, f"{how} connector waiting for a token")
    pending = PendingTap(token, reader_id, tuple(connectors), at_s + plug_timeout_s)
    return TapRoute(None, f"waiting for a plug-in until {pending.expires_at_s:.1f}", pending)


def add_pending(
    pending: Sequence[PendingTap], tap: PendingTap, at_s: float
) -> tuple[PendingTap, ...]:
    """The pending taps after ``tap``: expired ones and older ones from its reader are gone."""
    kept = [p for p in drop_expired(pending, at_s) if p.reader_id != tap.reader_id]
    return (*kept, tap)


def drop_expired(pending: Sequence[PendingTap], at_s: float) -> tuple[PendingTap, ...]:
    return tuple(p for p in pending if p.expires_at_s > at_s)


def claim_for_plug(
    pending: Sequence[PendingTap], connector_id: str, at_s: float
) -> tuple[PendingTap | None, tuple[PendingTap, ...]]:
    """A plug-in at ``connector_id`` claims the newest live tap of a reader serving it.

    Returns the claimed tap (or None) and the taps still pending.
    """
    live = drop_expired(pending, at_s)
    matching = [p for p in live if connector_id in p.connectors]
    if not matching:
        return None, live
    claimed = max(matching, key=lambda p: p.expires_at_s)
    return claimed, tuple(p for p in live if p is not claimed)
