"""In-process test doubles for the session manager: a settable meter and a recording gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_controller.domain.model import ChargerStatus, CpState, MeterReading
from edge_controller.domain.sessions.authorization import (
    AuthEntry,
    AuthPolicy,
    AuthResult,
    AuthStatus,
)
from edge_controller.domain.sessions.state import Timeouts
from edge_controller.ports import DeviceUnavailable
from edge_controller.services.control.status_relay import StatusRelay
from edge_controller.services.readers import PendingTaps
from edge_controller.services.sessions.manager import SessionChannels, SessionManager
from edge_controller.services.sessions.sampling import Sampling
from edge_controller.services.sessions.setup import SessionOptions, build_session_manager
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox
from edge_controller.storage.sessions_store import SessionStore


class Clock:
    def __init__(self, now_s: float = 1_700_000_000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@dataclass
class CounterMeter:
    """A connector meter whose energy register the test sets."""

    energy_wh: float = 1000.0
    failing: bool = False

    async def read(self) -> MeterReading:
        if self.failing:
            raise DeviceUnavailable("meter not answering")
        return MeterReading(
            (230.0,) * 3, (10.0,) * 3, (2300.0,) * 3, 6900.0, self.energy_wh, 0.0, 0.0
        )


@dataclass
class Gate:
    calls: list[tuple[str, bool]] = field(default_factory=list)

    def authorize_charging(self, connector_id: str, allowed: bool) -> None:
        self.calls.append((connector_id, allowed))

    def allowed(self, connector_id: str) -> bool | None:
        last = [a for c, a in self.calls if c == connector_id]
        return last[-1] if last else None


# Ids the tests start sessions with by command: every start is authorised, so the CSMS knows them.
KNOWN_TAGS = ("LOCAL1", "X")


@dataclass
class Csms:
    """Answers Authorize like a CSMS would; None models being offline."""

    answers: dict[str, AuthResult] = field(
        default_factory=lambda: {t: AuthEntry(t, AuthStatus.ACCEPTED) for t in KNOWN_TAGS}
    )
    online: bool = True
    asked: list[str] = field(default_factory=list)

    async def authorize(self, id_tag: str, *, key_code: bool = False) -> AuthResult | None:
        self.asked.append(id_tag)
        return self.answers.get(id_tag) if self.online else None


def status(state: CpState, fault: str | None = None) -> ChargerStatus:
    return ChargerStatus(state=state, enabled=True, offered_current_a=16.0, fault_text=fault)


@dataclass
class Rig:
    db: Database
    manager: SessionManager
    meters: dict[str, CounterMeter]
    gate: Gate
    csms: Csms
    clock: Clock
    outbox: Outbox
    store: SessionStore
    queued: list[int]


def route(connector_id: str) -> str:
    del connector_id
    return "site"


async def make_rig(
    path: Path,
    *,
    policy: AuthPolicy | None = None,
    connectors: tuple[str, ...] = ("cp1:1", "cp1:2"),
    clock: Clock | None = None,
    meters: dict[str, CounterMeter] | None = None,
    csms: Csms | None = None,
    taps: PendingTaps | None = None,
    statuses: StatusRelay | None = None,
) -> Rig:
    db = await Database.open(path)
    clock = clock or Clock()
    meters = meters if meters is not None else {c: CounterMeter() for c in connectors}
    csms = csms or Csms()
    gate = Gate()
    options = SessionOptions(
        policy=policy or AuthPolicy(),
        timeouts=Timeouts(plug_timeout_s=60.0, auth_timeout_s=None),
        sampling=Sampling(interval_s=60.0, aligned_s=900.0),
        meter_timeout_s=1.0,
        authorize_timeout_s=1.0,
    )
    queued: list[int] = []
    channels = SessionChannels(
        statuses=statuses, taps=taps, csms=csms, outbox_wakeup=lambda _identity: queued.append(1)
    )
    manager = build_session_manager(
        db, connectors, gate, meters, channels=channels, route=route, options=options,
        clock=clock,
    )  # fmt: skip
    store = SessionStore(db)
    return Rig(db, manager, meters, gate, csms, clock, Outbox(db, clock=clock), store, queued)
