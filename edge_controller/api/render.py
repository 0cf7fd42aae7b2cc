"""The installer's live view of a site in the terminal (`edge-controller status`).

It fits the terminal it is given: every line is cut to the width, and when rows run short the
connector list is cut (saying how many are left out) before the header (site, uplink, backlog,
grid, headroom) could scroll away. A site the size of the demo's (7 connectors, 6 devices) fits
80×24 whole. A wider terminal shows more: each connector's status read time, longer reasons.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from edge_controller.domain.model import Phases3
from edge_controller.domain.snapshot import ChildView, ConnectorView, DeviceView, SiteView

WIDE_COLUMNS = 100  # from this width on, the connectors' status read time is shown too
DEVICE_ID_WIDTH = 8
# p99 ms: one request on the bus (a connector's "read p99 ms" includes waiting for the bus).
DEVICE_HEADER = (
    f"{'device':<{DEVICE_ID_WIDTH}} {'answers':<7}{'requests':>9}{'errors':>7}{'p99 ms':>7}"
)
DEVICE_GAP = "  "


@dataclass(frozen=True, slots=True)
class Screen:
    """The room the view may use; None: unlimited (output to a file or a pipe)."""

    columns: int | None = None
    rows: int | None = None


def _phases(values: Phases3 | None, fmt: str = "5.1f") -> str:
    return "-" if values is None else " ".join(f"{v:{fmt}}" for v in values)


def _num(value: float | None, fmt: str, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value / scale:{fmt}}"


def _utc(at_s: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(at_s))


def _waiting(c: ConnectorView) -> str:
    """An authorisation held for the next EV (masked id, when it is given up), or why the last
    start was given up."""
    if c.plug_wait_token is not None and c.plug_wait_until_s is not None:
        return f" [waits for an EV: {c.plug_wait_token} until {_utc(c.plug_wait_until_s)}]"
    return f" [{c.status_info}]" if c.status_info else ""


def _cost(c: ConnectorView) -> str:
    """The running session's cost so far (tax included), or the price per kWh of a start."""
    if c.running_cost is not None:
        return f" [cost {c.running_cost['incl_tax']} {c.running_cost['currency']}]"
    if c.price is not None and c.price.get("per_kwh") is not None:
        return f" [{c.price['per_kwh']} {c.price['currency']}/kWh]"
    return ""


def _child_line(child: ChildView) -> str:
    """A parent's child: its last report, the budget in force, what it is counted at."""
    age = "none yet" if child.report_age_s is None else f"{child.report_age_s:.1f} s ago"
    budget = "none in force"
    if child.budget_a is not None:
        budget = f"{_phases(child.budget_a, 'g').replace(' ', '/')} A"
    state = "LOST" if child.lost else "reporting"
    return (
        f"child {child.child_id}: {state}, last report {age}, budget {budget}, "
        f"counted at {_phases(child.counted_a, 'g').replace(' ', '/')} A"
    )


def header(view: SiteView) -> list[str]:
    uplink = "online" if view.uplink_online else "OFFLINE"
    grid = f"grid     A {_phases(view.grid_current_a)}  limit {view.grid_limit_a:g} A"
    if view.grid_voltage_v is not None:
        grid += f"   {_phases(view.grid_voltage_v, '.0f').replace(' ', '/')} V"
    if view.grid_power_w is not None:
        grid += f"   {view.grid_power_w / 1000:.1f} kW"
    if view.grid_reading_age_s is not None:
        grid += f"   {view.grid_reading_age_s:.1f} s old"
    headroom = f"headroom A {_phases(view.headroom_a)}"
    if view.waiting_for:
        headroom += f"   waiting for a first reading of {', '.join(view.waiting_for)}"
    elif view.grid_import_energy_wh is not None:
        headroom += f"  import {_num(view.grid_import_energy_wh, '.1f', 1000)} kWh"
        headroom += f"  export {_num(view.grid_export_energy_wh, '.1f', 1000)} kWh"
    return [
        f"{_utc(view.at_s)}  site {view.site_id}   uplink {uplink}   "
        f"outbox backlog {view.outbox_backlog}",
        grid,
        headroom,
        *([f"STORAGE ALARM: {view.storage_alarm}"] if view.storage_alarm else []),
        *(f"GATEWAY FAULT: {fault.text}" for fault in view.gateway_faults),
        *(_child_line(child) for child in view.gateway_children),
        *(
            [
                f"PARKED: {view.outbox_parked} outbox message(s) refused by the CSMS "
                "(edge-controller outbox --parked)"
            ]
            if view.outbox_parked
            else []
        ),
        *(
            [
                f"PAYMENT OUTCOME UNKNOWN: {view.payments_unknown} card payment(s), check the "
                "terminal's journal (edge-controller sessions --summary)"
            ]
            if view.payments_unknown
            else []
        ),
    ]


def connector_lines(connectors: Sequence[ConnectorView], wide: bool) -> list[str]:
    id_width = max([9, *(len(c.connector_id) for c in connectors)])
    read = " read p99 ms" if wide else ""
    lines = [
        f"{'connector':<{id_width}} {'state':<13} offer A L1 A L2 A L3 A   kW   kWh{read} "
        "limit reason"
    ]
    for c in connectors:
        p99 = f" {_num(c.status_read_p99_ms, '11.0f')}" if wide else ""
        lines.append(
            f"{c.connector_id:<{id_width}} {c.availability.value:<13} "
            f"{c.offered_current_a:7.1f} {_phases(c.measured_current_a, '4.1f')} "
            f"{_num(c.power_w, '4.1f', 1000):>4} {_num(c.session_energy_wh, '5.1f', 1000):>5}"
            f"{p99} {c.limit_reason}"
            + (f" [{c.fault_text}]" if c.fault_text else "")
            + _waiting(c)
            + _cost(c)
        )
    return lines


def _device(d: DeviceView) -> str:
    answers = "NO" if not d.available else ("fault" if d.fault_text else "yes")
    return (
        f"{d.device_id[:DEVICE_ID_WIDTH]:<{DEVICE_ID_WIDTH}} {answers:<7}{d.requests:>9}"
        f"{sum(d.errors.values()):>7}{_num(d.latency_p99_ms, '7.1f'):>7}"
    )


def _fault(device_id: str, text: str) -> str:
    return text if text.startswith(device_id) else f"{device_id}: {text}"


def device_lines(devices: Sequence[DeviceView], columns: int | None) -> list[str]:
    """One row per device, two devices side by side when the width allows; then the faults."""
    cells = [_device(d) for d in devices]
    faults = [_fault(d.device_id, d.fault_text) for d in devices if d.available and d.fault_text]
    pairs = columns is None or columns >= 2 * len(DEVICE_HEADER) + len(DEVICE_GAP)
    if not pairs or len(cells) < 2:
        return [DEVICE_HEADER, *cells, *faults]
    rows = [DEVICE_GAP.join(cells[i : i + 2]) for i in range(0, len(cells), 2)]
    return [DEVICE_HEADER + DEVICE_GAP + DEVICE_HEADER, *rows, *faults]


def render(view: SiteView, screen: Screen | None = None) -> str:
    """The view as text for ``screen`` (unlimited when None)."""
    screen = screen or Screen()
    wide = screen.columns is None or screen.columns >= WIDE_COLUMNS
    top = header(view)
    table = connector_lines(view.connectors, wide) if view.connectors else []
    devices = device_lines(view.devices, screen.columns) if view.devices else []
    if screen.rows is not None:
        # One row stays free for the cursor after the last line, or the first would scroll off.
        room = screen.rows - 1 - len(top) - 1 - (1 + len(devices) if devices else 0)
        table = _cut(table, max(room, 3))
    lines = [*top, *(["", *table] if table else []), *(["", *devices] if devices else [])]
    if screen.rows is not None:
        lines = lines[: screen.rows - 1]
    if screen.columns is not None:
        lines = [line[: screen.columns] for line in lines]
    return "\n".join(line.rstrip() for line in lines)


def _cut(table: list[str], rows: int) -> list[str]:
    """The connector table in ``rows`` rows, its last saying how many connectors are left out."""
    if len(table) <= rows:
        return table
    kept = table[: rows - 1]
    return [*kept, f"... {len(table) - len(kept)} more (a taller terminal or --json shows all)"]
