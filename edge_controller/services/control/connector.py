"""One connector inside the site loop: its wiring, pollers, what the loop knows of it, and
programming its charger's own watchdog (the fallback follows the session: 0 A without one)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from edge_controller.domain.balancing import ConnectorDemand, DemandState
from edge_controller.domain.balancing.ev_phases import (
    NO_EVIDENCE,
    PhaseEvidence,
    learn_phases,
    phases_in_use,
)
from edge_controller.domain.balancing.readings import RecentReadings, Sample
from edge_controller.domain.balancing.views import demand_state
from edge_controller.domain.model import (
    IDLE_METER_INTERVAL_S,
    ChargerStatus,
    Limit,
    MeterReading,
)
from edge_controller.ports import (
    BuiltInMeter,
    Charger,
    DeviceError,
    DeviceWatchdog,
    NotSupported,
    StatusWithMeter,
)
from edge_controller.services.control.poller import Poller


@dataclass(frozen=True, slots=True)
class ConnectorSetup:
    """One connector as the app wires it: its port and its balancing settings."""

    connector_id: str
    charger: Charger
    wiring: tuple[int, ...] = (0, 1, 2)
    feeder: str | None = None
    min_current_a: float = 6.0
    max_current_a: float = 32.0
    priority: int = 0
    failsafe_current_a: float = 6.0
    failsafe_timeout_s: float = 15.0
    poll_interval_s: float = 1.0
    # False where sessions gate charging: nothing is offered until a session is authorised.
    authorized_at_start: bool = True
    # True with free vend: any EV may charge, so the failsafe current holds without a session.
    free_vend: bool = False

    def __post_init__(self) -> None:
        # allocate() trusts the wiring: a connector that loads no grid phase would be unbounded.
        phases = self.wiring
        if not 1 <= len(phases) <= 3 or len(set(phases)) != len(phases) or set(phases) - {0, 1, 2}:
            raise ValueError(
                f"{self.connector_id}: wiring must name 1 to 3 distinct grid phases, got {phases}"
            )


NOT_AUTHORIZED = Limit(0.0, "waiting for authorisation")


@dataclass(frozen=True, slots=True)
class LoopTiming:
    tick_s: float = 1.0
    io_timeout_s: float = 3.0  # outer guard on every device call (>= the bus timeout x tries)
    grid_poll_interval_s: float = 1.0
    # A charger silent for longer counts as not answering (assumed at its maximum). Until then
    # it still holds our last setpoint; its own watchdog takes over after failsafe_timeout_s.
    charger_stale_s: float = 5.0
    # How far back a grid reading may be paired with our own readings taken before and after it.
    measurement_window_s: float = 3.0
    # The built-in meter of a connector that cannot draw (no EV, or a 0 A setpoint written) and
    # whose last reading showed none: read this seldom (at 1,000 connectors, half of them paused,
    # their meters were a quarter of the bus traffic). Its draw then counts as the building's.
    idle_meter_interval_s: float = IDLE_METER_INTERVAL_S


# At most this on every phase, a connector that cannot draw is taken to draw nothing (what a
# meter shows for a paused EV, its standby).
IDLE_DRAW_A = 0.5


# Recent readings kept to pair with grid readings (a few seconds' worth). Neither fewer nor a
# bound in time (those within the measurement window and a margin) would answer every query as
# these do: the reading done before a grid reading (``draw_around``) may be older than any
# margin (a meter read every IDLE_METER_INTERVAL_S while idle, or silent for a while, then
# read again), and nothing bounds how many readings arrive within the window (polls as short
# as the configuration allows, the reads asked for again after every write).
HISTORY_READINGS = 32


def remember(
    history: RecentReadings | deque[Sample], poller: Poller[MeterReading], reading: MeterReading
) -> None:
    """Keep ``reading`` (just polled by ``poller``) with the times its read began and ended."""
    started_s, arrived_s = poller.latest_started_at_s, poller.latest_at_s
    if started_s is not None and arrived_s is not None:
        history.append(Sample(started_s, arrived_s, reading.current_a))


class ConnectorRuntime:
    """Runtime state of one connector inside the loop."""

    def __init__(
        self,
        setup: ConnectorSetup,
        timing: LoopTiming,
        clock: Callable[[], float],
        on_status: Callable[[str, ChargerStatus], None] | None = None,
        gate: asyncio.Event | None = None,
    ):
        self.setup = setup
        self._on_status = on_status
        # When the latest status read that showed its EV not asking for current (state B, no
        # EV, a fault) arrived: a draw read after it is one the EV asked for again.
        self.not_asking_seen_s = float("-inf")
        self.status: Poller[ChargerStatus] = Poller(
            setup.connector_id,
            setup.charger.read_status,
            interval_s=setup.poll_interval_s,
            timeout_s=timing.io_timeout_s,
            max_age_s=timing.charger_stale_s,
            clock=clock,
            on_update=self._status_read,
            gate=gate,
        )
        self.meter: Poller[MeterReading] | None = None
        self.history = RecentReadings(HISTORY_READINGS)  # our own draw, paired
        # When the latest reading that showed it drawing (some phase above IDLE_DRAW_A) began:
        # kept past the bounded history, so an EV that paused itself while asking for current
        # is known to have drawn however long the pause (one paused 48 s, past the 32 readings
        # kept, was taken for a slow start and resumed beside a slower EV, over the limit).
        self.drew_started_s: float | None = None  # None: never
        if isinstance(setup.charger, BuiltInMeter):
            meter = self.meter = Poller(
                f"{setup.connector_id}/meter",
                setup.charger.read_meter,
                interval_s=setup.poll_interval_s,
                timeout_s=timing.io_timeout_s,
                max_age_s=timing.charger_stale_s,
                clock=clock,
                on_update=self._metered,
                gate=gate,
            )
            if isinstance(setup.charger, StatusWithMeter):
                # Its meter is read in its status poll when due: in one request where the
                # registers allow, else right after the status, each read with its own
                # timeout and outcome (a meter that does not answer spares the status).
                charger = setup.charger
                together = charger.status_and_meter_share_a_request
                self.status.carry(meter, charger.read_status_and_meter if together else None)
        self._timing = timing
        self.meter_idle = False  # its meter read seldom, its draw counted as the building's
        self.written_a: float | None = None  # None: unknown, write whatever is decided next
        self.external: tuple[Limit, ...] = ()
        self.operator: Limit | None = None
        self.enabled = True
        self.authorized = setup.authorized_at_start
        self.watchdog = isinstance(setup.charger, DeviceWatchdog)  # False: none, or unsupported
        self.failsafe_a: float | None = None  # what its watchdog is programmed to (None: unknown)
        self.write_failing = False
        self.failsafe_failing = False
        self.plugged_at_s: float | None = None
        self.energy_at_plug_wh: float | None = None
        self.phases: PhaseEvidence = NO_EVIDENCE

    @property
    def safe_current_a(self) -> float:
        """What it may offer when nobody tells it (our watchdog, shutdown): its failsafe current
        while a session is authorised (or with free vend), else 0 A: nobody charges unasked."""
        if self.authorized or self.setup.free_vend:
            return self.setup.failsafe_current_a
        return 0.0

    def _metered(self, reading: MeterReading) -> None:
        assert self.meter is not None
        started_s, arrived_s = self.meter.latest_started_at_s, self.meter.latest_at_s
        if started_s is not None and arrived_s is not None:
            self.record(Sample(started_s, arrived_s, reading.current_a))

    def record(self, sample: Sample) -> None:
        """Keep a reading of its draw, and when it began if it shows a draw."""
        self.history.append(sample)
        if max(sample.current_a) > IDLE_DRAW_A:
            self.drew_started_s = sample.started_s

    def _status_read(self, status: ChargerStatus) -> None:
        arrived_s = self.status.latest_at_s
        if arrived_s is not None and demand_state(status) is not DemandState.CHARGING:
            self.not_asking_seen_s = arrived_s
        if self._on_status is not None:
            self._on_status(self.setup.connector_id, status)

    def demand(self, now_s: float) -> ConnectorDemand:
        status = self.status.fresh()
        state = demand_state(status)
        reading = self.meter.fresh() if self.meter is not None else None
        self._track_session(state, reading, now_s)
        energy = 0.0
        if reading is not None and self.energy_at_plug_wh is not None:
            energy = reading.import_energy_wh - self.energy_at_plug_wh
        limits = self.external + ((self.operator,) if self.operator is not None else ())
        if not self.authorized:
            limits += (NOT_AUTHORIZED,)
        idle = self._cannot_draw(state, reading)
        if idle != self.meter_idle:
            self._meter_idle(idle)
        s = self.setup
        return ConnectorDemand(
            connector_id=s.connector_id,
            state=state,
            wiring=s.wiring,
            feeder=s.feeder,
            ev_phases=phases_in_use(self.phases, len(s.wiring)),
            min_current_a=s.min_current_a,
            max_current_a=s.max_current_a,
            limits=limits,
            # Idle: none of its draw is ours, all of it is the building's. That errs on the
            # safe side whatever it draws, and needs no reading paired with the grid's.
            measured_current_a=reading.current_a if reading is not None and not idle else None,
            priority=s.priority,
            session_start_s=self.plugged_at_s,
            session_energy_wh=energy,
            enabled=self.enabled,
            charger_enabled=status.enabled if status is not None else True,
        )

    def _cannot_draw(self, state: DemandState, reading: MeterReading | None) -> bool:
        """No EV, or a 0 A setpoint written (paused), and its latest reading shows no draw."""
        if self.meter is None or reading is None or max(reading.current_a) > IDLE_DRAW_A:
            return False
        if state is DemandState.IDLE:
            return True
        return self.written_a == 0.0 and state is not DemandState.UNAVAILABLE

    def _meter_idle(self, idle: bool) -> None:
        """Read its meter seldom (``idle``: a reading stays usable until the next one is due)
        or at its poll interval again, at once."""
        meter, timing = self.meter, self._timing
        assert meter is not None
        self.meter_idle = idle
        if idle:
            meter.interval_s = timing.idle_meter_interval_s
            meter.max_age_s = timing.idle_meter_interval_s + timing.charger_stale_s
        else:
            meter.interval_s = self.setup.poll_interval_s
            meter.max_age_s = timing.charger_stale_s
            meter.refresh()  # a reading now, not when the idle interval ends

    def read_early(self, current_a: float) -> None:
        """A new setpoint was written: read its answer now (its meter at its poll interval
        again if the setpoint lets it draw)."""
        self.status.refresh()
        if self.meter is None:
            return
        if self.meter_idle and current_a > 0:
            self._meter_idle(False)
        else:
            self.meter.refresh()

    def _track_session(
        self, state: DemandState, reading: MeterReading | None, now_s: float
    ) -> None:
        if state is DemandState.IDLE:
            self.plugged_at_s = self.energy_at_plug_wh = None
        elif state.wants_current and self.plugged_at_s is None:
            self.plugged_at_s = now_s
            self.energy_at_plug_wh = reading.import_energy_wh if reading is not None else None
        taken_at_s = self.meter.latest_at_s if self.meter is not None else None
        seen = None if reading is None or taken_at_s is None else (reading.current_a, taken_at_s)
        self.phases = learn_phases(self.phases, state, seen)
        if state is DemandState.UNAVAILABLE:
            self.written_a = None  # it may reboot or fall back on its own: rewrite on return
            self.failsafe_a = None  # a charger back from silence may have lost it


async def program_failsafes(
    conns: Iterable[ConnectorRuntime], timeout_s: float, log: Any, *, lowering: bool
) -> None:
    """Program each answering charger's watchdog to fall back to its safe current (0 A without
    an authorised session) where it is not programmed so: ``lowering`` those to go down, else
    those to go up or not programmed yet (at start and after an outage). Failures are logged
    once per outage. The chargers are programmed side by side: after an outage a few hundred
    of them may need it, one after the other they held the loop's step for seconds."""
    due = []
    for conn in conns:
        wanted_a, programmed_a = conn.safe_current_a, conn.failsafe_a
        if not conn.watchdog or wanted_a == programmed_a or not conn.status.available:
            continue
        if lowering != (programmed_a is not None and wanted_a < programmed_a):
            continue
        due.append((conn, wanted_a))
    if due:
        async with asyncio.TaskGroup() as group:
            for conn, wanted_a in due:
                group.create_task(_program(conn, wanted_a, timeout_s, log))


async def _program(conn: ConnectorRuntime, current_a: float, timeout_s: float, log: Any) -> None:
    charger, setup = conn.setup.charger, conn.setup
    assert isinstance(charger, DeviceWatchdog)
    try:
        async with asyncio.timeout(timeout_s):
            await charger.program_failsafe(current_a, setup.failsafe_timeout_s)
    except NotSupported as exc:
        conn.watchdog = False  # this model cannot: say so once, rely on the rest
        log.warning("charger has no watchdog", connector=setup.connector_id, error=str(exc))
    except (DeviceError, TimeoutError) as exc:
        conn.failsafe_a = None
        if not conn.failsafe_failing:
            conn.failsafe_failing = True
            log.warning("watchdog not programmed", connector=setup.connector_id, error=repr(exc))
    else:
        conn.failsafe_a, conn.failsafe_failing = current_a, False
