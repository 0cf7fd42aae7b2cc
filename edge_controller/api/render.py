"""The installer's live view of a site in the terminal (`edge-controller status`)."""

from __future__ import annotations

from edge_controller.domain.model import Phases3
from edge_controller.domain.snapshot import SiteView


def _phases(values: Phases3 | None) -> str:
    return "-" if values is None else " / ".join(f"{v:5.1f}" for v in values)


def render(view: SiteView) -> str:
    uplink = "online" if view.uplink_online else "OFFLINE"
    age = "-" if view.grid_reading_age_s is None else f"{view.grid_reading_age_s:.1f} s old"
    lines = [
        f"site {view.site_id}   grid limit {view.grid_limit_a:g} A/phase   uplink {uplink}"
        f"   outbox backlog {view.outbox_backlog}",
        f"grid current A  {_phases(view.grid_current_a)}   ({age})",
        f"headroom A      {_phases(view.headroom_a)}",
        "",
        f"{'connector':<12} {'state':<14} {'offered A':>9} {'measured A (L1/L2/L3)':>23} "
        f"{'session Wh':>10}  limit reason",
    ]
    for c in view.connectors:
        energy = "-" if c.session_energy_wh is None else f"{c.session_energy_wh:.0f}"
        lines.append(
            f"{c.connector_id:<12} {c.availability.value:<14} {c.offered_current_a:>9.1f} "
            f"{_phases(c.measured_current_a):>23} {energy:>10}  {c.limit_reason}"
            + (f"  [{c.fault_text}]" if c.fault_text else "")
        )
    if view.devices:
        lines += [
            "",
            f"{'device':<14} {'available':<9} {'requests':>8} {'errors':>6} {'p99 ms':>7}",
        ]
        for d in view.devices:
            p99 = "-" if d.latency_p99_ms is None else f"{d.latency_p99_ms:.1f}"
            lines.append(
                f"{d.device_id:<14} {'yes' if d.available else 'NO':<9} {d.requests:>8} "
                f"{sum(d.errors.values()):>6} {p99:>7}"
            )
    return "\n".join(lines)
