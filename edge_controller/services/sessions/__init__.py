"""Charging sessions: ``SessionManager`` runs each connector's state machine
(``domain.sessions``), authorises every start through one rule (``auth``), records starts,
samples and stops with their outbox messages (``recorder``, ``messages``) and keeps the
reservations (``reservations``). ``setup.build_session_manager`` builds it on one database.
"""

from edge_controller.services.sessions.auth import Authorizer, TokenAuthorizer
from edge_controller.services.sessions.events import SessionEvent, SessionEvents
from edge_controller.services.sessions.manager import PlugWait, SessionManager
from edge_controller.services.sessions.recorder import EnergySource, SessionRecorder
from edge_controller.services.sessions.reservations import ReservationBook
from edge_controller.services.sessions.sampling import Sampling
from edge_controller.services.sessions.setup import SessionOptions, build_session_manager

__all__ = [
    "Authorizer",
    "EnergySource",
    "PlugWait",
    "ReservationBook",
    "Sampling",
    "SessionEvent",
    "SessionEvents",
    "SessionManager",
    "SessionOptions",
    "SessionRecorder",
    "TokenAuthorizer",
    "build_session_manager",
]
