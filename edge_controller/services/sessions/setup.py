"""Builds a session manager and its helpers on one database (used by the composition root)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from edge_controller.domain.sessions.authorization import AuthPolicy
from edge_controller.domain.sessions.state import Timeouts
from edge_controller.services.sessions.actions import ConnectorGate
from edge_controller.services.sessions.auth import TokenAuthorizer
from edge_controller.services.sessions.manager import SessionChannels, SessionManager
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.services.sessions.recorder import EnergySource, OutboxRoute, SessionRecorder
from edge_controller.services.sessions.reservations import ReservationBook
from edge_controller.services.sessions.sampling import Sampling
from edge_controller.storage.auth_store import AuthStore
from edge_controller.storage.database import Database
from edge_controller.storage.reservations_store import ReservationStore
from edge_controller.storage.sessions_store import SessionStore


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Everything configurable, with the defaults of the settings models."""

    policy: AuthPolicy = field(default_factory=AuthPolicy)
    timeouts: Timeouts = field(default_factory=Timeouts)
    sampling: Sampling = field(default_factory=Sampling)
    meter_timeout_s: float = 2.0
    authorize_timeout_s: float = 5.0


def build_session_manager(
    db: Database,
    connector_ids: Sequence[str],
    gate: ConnectorGate,
    meters: Mapping[str, EnergySource],
    *,
    channels: SessionChannels | None = None,
    route: OutboxRoute | None = None,
    options: SessionOptions | None = None,
    clock: Callable[[], float] = time.time,
    pricing: SessionPricing | None = None,
) -> SessionManager:
    """``meters``: each connector's energy source (a connector ``Meter`` or the charger's
    ``BuiltInMeter``). ``route``: the uplink identity per connector, None without an uplink.
    ``channels``: made before the session side (see ``SessionChannels``). ``pricing``: prices
    the sessions (None: not priced)."""
    opts, wired = options or SessionOptions(), channels or SessionChannels()
    recorder = SessionRecorder(
        SessionStore(db), meters, route, opts.meter_timeout_s, on_queued=wired.outbox_wakeup,
        pricing=pricing,
    )  # fmt: skip
    auth = TokenAuthorizer(AuthStore(db), wired.csms, opts.policy, opts.authorize_timeout_s)
    return SessionManager(
        connector_ids, recorder, auth, gate,
        timeouts=opts.timeouts, sampling=opts.sampling, clock=clock,
        reservations=ReservationBook(ReservationStore(db), AuthStore(db), route),
        channels=wired,
    )  # fmt: skip
