"""The live view at 80×24 for the demo site, the JSON codec, and the rows a person reads."""

from __future__ import annotations

import dataclasses
import json

import pytest

from edge_controller.api.codec import site_from_json, site_to_json
from edge_controller.api.render import Screen, render
from edge_controller.domain.snapshot import Availability, ConnectorView, DeviceView, SiteView
from edge_controller.sim.demo_view import compose

AT_S = 1_764_204_000.0  # 00:40:00 UTC
REASONS = (
    "paused: waiting for a decrease to take effect",
    "feeder carport L1 32 A",
    "waiting for authorisation",
    "grid meter stale → fallback 6 A",
)


def demo_site(connectors: int = 7) -> SiteView:
    """The demo site's shape: 7 connectors (the widest states and reasons), 6 devices."""
    ids = ["keba:1", "charx:1", "charx:2", "charx:3", "hd1:1", "hd2:1", "wall:1"]
    ids += [f"extra{n}:1" for n in range(connectors - len(ids))]
    views = tuple(
        ConnectorView(
            cid,
            Availability.SUSPENDED_EVSE if n % 2 else Availability.CHARGING,
            16.0,
            REASONS[n % len(REASONS)],
            (16.0, 16.0, 15.9),
            power_w=11_040.0,
            session_energy_wh=123_456.0,
            at_s=AT_S,
            status_read_p99_ms=830.6,
        )
        for n, cid in enumerate(ids[:connectors])
    )
    devices = tuple(
        DeviceView(name, True, 123_456, {"timeout": 12}, 4.1, 13.3, AT_S)
        for name in ("keba", "charx", "hd1", "hd2", "grid", "entrance")
    )
    return SiteView(
        "demo-site",
        (38.0, 35.0, 36.0),
        50.0,
        (12.0, 15.0, 14.0),
        0.4,
        views,
        devices,
        uplink_online=False,
        outbox_backlog=1234,
        at_s=AT_S,
        grid_voltage_v=(231.0, 229.0, 230.0),
        grid_power_w=25_300.0,
        grid_import_energy_wh=1_234_567.0,
        grid_export_energy_wh=890.0,
    )


def test_the_demo_site_fits_80_by_24_with_the_demo_days_lines() -> None:
    view = demo_site()
    frame = render(view, Screen(80, 24))
    lines = frame.split("\n")
    assert len(lines) <= 23 and max(map(len, lines)) <= 80  # row 24 keeps the cursor
    assert lines[0].startswith("00:40:00 UTC  site demo-site   uplink OFFLINE")
    assert "outbox backlog 1234" in lines[0]
    assert (
        lines[1] == "grid     A  38.0  35.0  36.0  limit 50 A   231/229/230 V   25.3 kW   0.4 s old"
    )
    assert lines[2] == "headroom A  12.0  15.0  14.0  import 1234.6 kWh  export 0.9 kWh"
    for c in view.connectors:  # every connector, every device: none left out
        assert sum(line.startswith(f"{c.connector_id} ") for line in lines) == 1
    device_rows = lines[next(i for i, line in enumerate(lines) if line.startswith("device")) :]
    for d in view.devices:
        assert sum(line.split().count(d.device_id) for line in device_rows) == 1
    # The demo's view adds the demo day's latest lines below, still within 24 rows.
    shown = compose(
        frame, [f"[day 1 12:0{n}] step {n}" for n in range(9)], "--- demo day ---", 80, 24
    )
    assert shown.count("\n") <= 23 and "[day 1 12:08]" in shown
    assert shown.startswith(lines[0])


def test_a_wider_terminal_shows_more() -> None:
    narrow = render(demo_site(), Screen(80, 24))
    wide = render(demo_site(), Screen(140, 40))
    assert "read p99 ms" in wide and "read p99 ms" not in narrow
    assert REASONS[0] in wide and REASONS[0] not in narrow


@pytest.mark.parametrize("rows", [12, 24])
def test_many_connectors_are_cut_and_counted_never_the_header(rows: int) -> None:
    view = demo_site(connectors=40)
    lines = render(view, Screen(80, rows)).split("\n")
    assert len(lines) <= rows - 1
    assert lines[0].startswith("00:40:00 UTC") and lines[2].startswith("headroom")
    more = [line for line in lines if " more (a taller terminal or --json shows all)" in line]
    ids = {c.connector_id for c in view.connectors}
    shown = sum(1 for line in lines if line.split(" ")[0] in ids)
    assert len(more) == 1 and more[0].startswith(f"... {40 - shown} more")


def test_connector_numbers_as_read() -> None:
    view = demo_site()
    row = next(r for r in render(view).split("\n") if r.startswith("keba:1 "))
    # offered A, measured A per phase, power kW, session kWh, read p99 ms, reason
    numbers = ["16.0", "16.0", "16.0", "15.9", "11.0", "123.5", "831"]
    assert row.split()[1:9] == ["Charging", *numbers]
    unknown = SiteView(
        "s",
        None,
        50.0,
        None,
        None,
        (ConnectorView("a:1", Availability.AVAILABLE, 0.0, "no vehicle"),),
    )
    row = next(r for r in render(unknown).split("\n") if r.startswith("a:1 "))
    assert row.split()[6:8] == ["-", "-"]  # power and session energy not known: not 0


def test_one_row_per_device_and_a_fault_says_what() -> None:
    faulty = DeviceView(
        "hd1", True, 10, {"exception_02": 3}, 4.0, 6.0, AT_S, "hd1: Modbus exception 02"
    )
    silent = DeviceView("hd2", False, 10, {"timeout": 9})
    view = SiteView("s", None, 50.0, None, None, devices=(faulty, silent))
    lines = render(view, Screen(80, 24)).split("\n")
    rows = [line.split() for line in lines]
    assert ["hd1", "fault", "10", "3", "6.0", "hd2", "NO", "10", "9", "-"] in rows
    assert "hd1: Modbus exception 02" in lines


def test_waiting_for_first_readings_is_said() -> None:
    view = SiteView("s", None, 50.0, None, None, waiting_for=("grid", "hd2:1"))
    assert "waiting for a first reading of grid, hd2:1" in render(view)


def test_json_round_trip_keeps_every_field() -> None:
    view = demo_site()
    assert site_from_json(json.loads(json.dumps(site_to_json(view)))) == view
    settling = dataclasses.replace(view, allocation_notes=("settling after a decrease",))
    assert site_from_json(json.loads(json.dumps(site_to_json(settling)))) == settling


def test_the_running_cost_or_the_price_is_shown_and_survives_json() -> None:
    view = demo_site(2)
    running = {"currency": "EUR", "incl_tax": "4.76", "excl_tax": "4.00", "until_s": AT_S}
    price = {"currency": "EUR", "per_kwh": "0.476", "per_session": None}
    charging = dataclasses.replace(view.connectors[0], running_cost=running, price=price)
    free = dataclasses.replace(view.connectors[1], price=price, session_energy_wh=None)
    shown = dataclasses.replace(view, connectors=(charging, free))
    text = render(shown)
    assert "[cost 4.76 EUR]" in text.splitlines()[5]  # the session's cost so far
    assert "[0.476 EUR/kWh]" in text.splitlines()[6]  # what a start costs here
    assert site_from_json(json.loads(json.dumps(site_to_json(shown)))) == shown
