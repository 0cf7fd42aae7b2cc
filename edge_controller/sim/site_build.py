"""Build the simulated site (physics + devices) from the site config. No I/O but profile files."""

from __future__ import annotations

from collections.abc import Callable

from edge_controller.config.settings import (
    ChargerSettings,
    MeterSettings,
    Settings,
    SimEvProfileSettings,
)
from edge_controller.domain.model import Phases3
from edge_controller.drivers.profiles.schema import Profile, load_profile
from edge_controller.sim.device_charger import ChargerDevice
from edge_controller.sim.device_meter import MeterDevice
from edge_controller.sim.physics_charger import ChargerHardware, ChargerModel
from edge_controller.sim.physics_ev import EvProfile
from edge_controller.sim.physics_site import (
    BaseLoadProfile,
    ChargerWiring,
    MeterModel,
    SiteModel,
)
from edge_controller.sim.sim_site import Arrival, ScriptedPause, SimSite, SimStartError

ProfileLoader = Callable[[str], Profile]


def ev_profile(settings: SimEvProfileSettings) -> EvProfile:
    return EvProfile(
        phases=settings.phases,
        max_current_a=settings.max_current_a,
        battery_wh=settings.battery_kwh * 1000.0,
        soc=settings.soc_percent / 100.0,
        target_soc=settings.target_soc_percent / 100.0,
        taper_start_soc=settings.taper_start_soc_percent / 100.0,
        response_delay_s=settings.response_delay_s,
    )


def _hh_mm_s(text: str) -> float:
    hours, minutes = text.split(":")
    return int(hours) * 3600.0 + int(minutes) * 60.0


def base_load_profile(settings: Settings) -> BaseLoadProfile:
    steps = sorted((_hh_mm_s(s.at), s.current_a) for s in settings.simulation.base_load)
    if not steps:
        return BaseLoadProfile()
    return BaseLoadProfile(tuple(steps))


def _charger_model(settings: ChargerSettings, profile: Profile, startup_a: float) -> ChargerModel:
    hardware_max = profile.points["set_current"].max
    max_a = (
        settings.max_current_a
        if hardware_max is None
        else min(hardware_max, settings.max_current_a)
    )
    return ChargerModel(
        ChargerHardware(
            connectors=min(settings.connectors, profile.connectors.count),
            max_current_a=max_a,
            min_current_a=settings.min_current_a,
            failsafe_current_a=settings.failsafe_current_a,
            watchdog_timeout_s=settings.failsafe_timeout_s,
            startup_current_a=startup_a,
        )
    )


def _meter_model(meter: MeterSettings, settings: Settings, chargers: list[str]) -> MeterModel:
    if meter.role == "connector" and meter.connector is not None:
        charger_id, _, number = meter.connector.partition(":")
        chosen = [charger_id] if charger_id in chargers else []
        return MeterModel(
            "connector", chosen, int(number) if number else None, meter.phase_rotation
        )
    if meter.role == "feeder":
        chosen = [
            cid
            for cid in chargers
            if meter.feeder in settings.site.feeder_chain(settings.chargers[cid].feeder)
        ]
        return MeterModel("feeder", chosen, None, meter.phase_rotation)
    return MeterModel("grid", list(chargers), None, meter.phase_rotation)


def _check_script(script: list[Arrival], chargers: dict[str, ChargerDevice]) -> None:
    for arrival in script:
        charger_id, _, number = arrival.connector.rpartition(":")
        charger = chargers.get(charger_id)
        if charger is None or not 1 <= int(number) <= len(charger.model.connectors):
            raise SimStartError(f"ev_script: {arrival.connector} is not a simulated connector")


def build_sim_site(
    settings: Settings,
    now_s: float,
    utc_offset_s: float = 0.0,
    profiles: ProfileLoader = load_profile,
) -> SimSite:
    """Every device marked ``simulated: true``, wired into one site model."""
    sim = settings.simulation
    voltage_v = sim.voltage_v or settings.site.nominal_voltage_v
    model = SiteModel(
        voltage_v=voltage_v, base_load=base_load_profile(settings), utc_offset_s=utc_offset_s
    )
    chargers: dict[str, ChargerDevice] = {}
    for cid, charger in settings.chargers.items():
        if not charger.simulated:
            continue
        profile = profiles(charger.profile)
        physics = _charger_model(charger, profile, sim.startup_current_a)
        for connector in physics.connectors:
            connector.wired_phases = 1 if len(charger.phase_rotation) == 2 else 3
        model.chargers[cid] = ChargerWiring(physics, charger.phase_rotation, charger.feeder)
        chargers[cid] = ChargerDevice(cid, profile, physics, lambda: model.voltage_v)
    meters: dict[str, MeterDevice] = {}
    for mid, meter in settings.meters.items():
        if meter.simulated:
            model.meters[mid] = _meter_model(meter, settings, list(chargers))
            meters[mid] = MeterDevice(mid, profiles(meter.profile), model.meters[mid])
    named = {name: ev_profile(p) for name, p in sim.ev_profiles.items()}
    script = [
        Arrival(
            a.connector,
            named[a.profile],
            a.arrive_s,
            a.leave_s,
            tuple(ScriptedPause(p.pause_s, p.resume_s, p.state == "C") for p in a.pauses),
        )
        for a in sim.ev_script
    ]
    _check_script(script, chargers)
    site = SimSite(model, chargers, meters, script, started_s=now_s)
    site.step(now_s)
    return site


# The building load the control interface accepts per phase: above the largest grid connection
# the config allows (6,300 A) by its tenth and more, so a step can overload any site.
BASE_LOAD_MAX_A = 10_000.0


def base_current(values: list[float]) -> Phases3:
    """Validate a per-phase current triple from the control interface."""
    if len(values) != 3 or any(not -BASE_LOAD_MAX_A <= float(v) <= BASE_LOAD_MAX_A for v in values):
        raise ValueError("current_a must be three numbers (L1, L2, L3) within ±10,000 A")
    return float(values[0]), float(values[1]), float(values[2])
