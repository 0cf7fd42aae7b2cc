"""The simulated site every end-to-end test runs: six connectors on TCP and RTU, one grid meter.

Grid phases per connector at 6 A (the minimum): the four three-phase EVs load every phase, the
single-phase EV on charx:3 loads L1 and the one on hd2 (wired to L3) loads L3. So with every EV
at its minimum the chargers draw 30 / 24 / 30 A on L1 / L2 / L3.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.ports import free_port

FREE_TAG = "FREE-VEND"
RESPONSE_DELAY_S = 1.0  # every simulated EV follows a new offer after this long
MIN_CURRENT_A = 6.0
FAILSAFE_CURRENT_A = 7.0  # differs from the minimum and the fallback, so it is recognisable
FAILSAFE_TIMEOUT_S = 3.0
THREE_PHASE = ("keba:1", "charx:1", "charx:2", "hd1:1")
SINGLE_PHASE = ("charx:3", "hd2:1")
CONNECTORS = THREE_PHASE + SINGLE_PHASE
WATCHDOG_CHARGERS = ("keba", "hd1", "hd2")  # the models with a failsafe watchdog
MIN_LOAD_A = (30.0, 24.0, 30.0)  # chargers' grid load per phase with every EV at 6 A


def _charger(bus: str, unit_id: int, profile: str, **extra: Any) -> dict[str, Any]:
    return {
        "bus": bus,
        "unit_id": unit_id,
        "profile": profile,
        "max_current_a": 16,
        "min_current_a": MIN_CURRENT_A,
        "poll_interval_s": 0.5,
        "failsafe_current_a": FAILSAFE_CURRENT_A,
        "failsafe_timeout_s": FAILSAFE_TIMEOUT_S,
        "simulated": True,
        **extra,
    }


def site_config(workdir: Path, state_dir: Path, **site: Any) -> dict[str, Any]:
    """A whole site config (plain data, edit before writing); ``site`` overrides site keys."""
    return {
        "site": {
            "id": "site1",
            "grid_limit_a": 50,
            "tick_s": 0.5,
            "shutdown_grace_s": 3,
            "fallback_current_a": 6,
            "grid_stale_s": 3,
            "increase_interval_s": 1,
            "decrease_settle_s": 5,  # the smallest allowed: IEC 61851 gives EVs 5 s to follow
            "min_increase_a": 1,
            "min_pause_s": 2,
            "min_charge_s": 2,
            "current_resolution_a": 1,
            **site,
        },
        "buses": {
            "lan": {"type": "tcp", "host": "127.0.0.1", "port": free_port(), "timeout_s": 0.5},
            "rs485": {
                "type": "rtu",
                "device": str(workdir / "ttyEV"),
                "baud": 115200,
                "parity": "N",
                "timeout_s": 0.3,
                "retries": 1,
            },
        },
        "chargers": {
            "keba": _charger("lan", 255, "keba_kecontact_p30", phase_rotation="L2L3L1"),
            "charx": _charger("lan", 1, "phoenix_charx_sec3xxx", connectors=3),
            "hd1": _charger("rs485", 1, "heidelberg_energy_control"),
            "hd2": _charger("rs485", 2, "heidelberg_energy_control", phase_rotation="L3"),
        },
        "meters": {
            "grid": {
                "bus": "rs485",
                "unit_id": 10,
                "profile": "eastron_sdm630",
                "poll_interval_s": 0.5,
                "simulated": True,
            },
        },
        "ocpp": {"authorization": {"free_vend_id_tag": FREE_TAG}},
        "storage": {"state_dir": str(state_dir)},
        "logging": {"level": "info", "format": "json"},
        "simulation": {
            "control_port": 0,
            "tick_s": 0.1,
            "base_load": [{"at": "00:00", "current_a": [5, 5, 5]}],
            "ev_profiles": {
                "car3": {"phases": 3, "max_current_a": 16, "response_delay_s": RESPONSE_DELAY_S},
                "car1": {"phases": 1, "max_current_a": 16, "response_delay_s": RESPONSE_DELAY_S},
            },
        },
    }


def profile_for(connector_id: str) -> str:
    return "car1" if connector_id in SINGLE_PHASE else "car3"


def write_config(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(copy.deepcopy(config), sort_keys=False))
    return path
