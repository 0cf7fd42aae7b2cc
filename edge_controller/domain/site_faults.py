"""Faults the site sees by itself, turned into problem reports: one open report per fault (pure).

A fault is a connector its charger reports as faulted (CP state F, an error code), a device
that has not answered for ``unavailable_after_s``, or a gateway fault (gateways whose configs
disagree, a child that hears no parent). Each has a key that stays the same while it
lasts; a report is raised when its key first appears and resolved when the key is gone. The open
reports come from the store, so a restart during a fault finds its report and raises none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edge_controller.domain.snapshot import Availability, SiteView

SITE_SOURCE = "site"
FAULT_SUBMISSION_PREFIX = "fault:"
GATEWAY_SUBJECT = "gateway"  # where a gateway fault's report is filed (no connector of its own)


@dataclass(frozen=True, slots=True)
class SiteFault:
    key: str  # "connector:<id>", "device:<id>" or "gateway:<its key>"
    connector_id: str  # where the report is filed: the connector, or the device's id
    text: str


@dataclass(frozen=True, slots=True)
class FaultSteps:
    raise_: tuple[SiteFault, ...]
    resolve: tuple[str, ...]  # keys of open reports whose fault has cleared


def submission_id(key: str, started_at_s: float) -> str:
    """A fault report's one-time id: one per occurrence of a fault (the same fault coming back
    later is a new report)."""
    return f"{FAULT_SUBMISSION_PREFIX}{key}@{started_at_s:.0f}"


def fault_key(submission: str) -> str | None:
    """The fault key of a site fault report's submission id; None for a driver's report."""
    if not submission.startswith(FAULT_SUBMISSION_PREFIX) or "@" not in submission:
        return None
    return submission[len(FAULT_SUBMISSION_PREFIX) :].rsplit("@", 1)[0]


def down_since(view: SiteView, previous: Mapping[str, float]) -> dict[str, float]:
    """Since when (UTC s) each device that does not answer now has not answered: its last
    answer if it had one, else the first view that saw it down."""
    found: dict[str, float] = {}
    for device in view.devices:
        if device.available:
            continue
        start = previous.get(device.device_id)
        if start is None:
            start = device.last_success_s if device.last_success_s is not None else view.at_s
        found[device.device_id] = start
    return found


def _device_connector(device_id: str, connectors: tuple[str, ...]) -> str:
    """A charger's first connector carries its device's fault; any other device files under
    its own id."""
    for connector_id in connectors:
        if connector_id.rsplit(":", 1)[0] == device_id:
            return connector_id
    return device_id


def observe(
    view: SiteView, silent_since: Mapping[str, float], unavailable_after_s: float
) -> tuple[SiteFault, ...]:
    """The faults present in ``view``; ``silent_since`` as ``down_since`` gives it."""
    faults = [
        SiteFault(
            f"connector:{c.connector_id}",
            c.connector_id,
            f"charger fault: {c.fault_text or 'faulted'}",
        )
        for c in view.connectors
        if c.availability is Availability.FAULTED
    ]
    connectors = tuple(c.connector_id for c in view.connectors)
    for device_id, since_s in sorted(silent_since.items()):
        silent_s = view.at_s - since_s
        if silent_s >= unavailable_after_s:
            text = f"device {device_id} has not answered for {silent_s:.0f} s"
            faults.append(
                SiteFault(f"device:{device_id}", _device_connector(device_id, connectors), text)
            )
    faults += [
        SiteFault(f"gateway:{fault.key}", GATEWAY_SUBJECT, f"gateway fault: {fault.text}")
        for fault in view.gateway_faults
    ]
    return tuple(faults)


def steps(faults: tuple[SiteFault, ...], open_keys: frozenset[str]) -> FaultSteps:
    """Raise a report for each fault without an open one; resolve each open one whose fault
    is gone."""
    present = {f.key for f in faults}
    raise_ = tuple(f for f in faults if f.key not in open_keys)
    resolve = tuple(sorted(open_keys - present))
    return FaultSteps(raise_, resolve)
