"""check-config's bus model against the real daemon: the requests the simulator receives on the
RTU line in a stretch of steady state match the model's count for every device."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from edge_controller.config.settings import Settings
from edge_controller.drivers.modbus.timing_report import bus_traffic
from tests.e2e.conftest import Launch

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

WARM_UP_S = 8.0
WINDOW_S = 40.0
# Per device. The model is an ideal line, and a busy host only adds latency, so it only lowers
# the measured rate (quiet machine, over a minute: within 1.1 % per device). The direction that
# matters is held tight: check-config trusts the model to refuse a bus that cannot carry its
# devices, so it must never count fewer requests than the line carries. Below the model, a host
# running other tests beside this one (make test runs two processes) was measured at -16 %.
OVER_TOLERANCE = 0.08
UNDER_TOLERANCE = 0.25


async def test_modelled_requests_match_what_the_simulator_receives(
    launch: Launch, config: dict[str, Any]
) -> None:
    config["buses"]["rs485"]["baud"] = 19200  # slow enough for the line to matter
    for device in (config["chargers"]["hd1"], config["chargers"]["hd2"], config["meters"]["grid"]):
        device["poll_interval_s"] = 1.0  # as shipped; host latency weighs less than at 0.5 s
    config["simulation"]["wire_timing"] = True  # answers as late as on a real line
    # No EV: every connector's meter is read at the idle interval.
    plan, model = bus_traffic(Settings.model_validate(config), "rs485", ev_free=True)
    site = await launch(config)  # no EV: every setpoint is steady (the watchdog rewrite only)
    await asyncio.sleep(WARM_UP_S)
    before, started = await site.state(), time.monotonic()
    await asyncio.sleep(WINDOW_S)
    after, elapsed_s = await site.state(), time.monotonic() - started

    rates = {}
    for device in plan.devices:
        counts = after["devices"][device]["requests"]
        earlier = before["devices"][device]["requests"]
        measured = {int(fc[2:]): (n - earlier.get(fc, 0)) / elapsed_s for fc, n in counts.items()}
        rates[device] = (model.requests_per_s(device), sum(measured.values()))
        for function, per_s in measured.items():  # no request the model does not know of
            assert model.requests_per_s(device, function) > 0 or per_s == 0, (device, function)
    print("requests/s, modelled and measured:", rates)
    for device, (modelled, measured) in rates.items():
        assert measured <= modelled * (1 + OVER_TOLERANCE), (device, rates)
        assert measured >= modelled * (1 - UNDER_TOLERANCE), (device, rates)
