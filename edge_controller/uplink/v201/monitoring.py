"""Variable monitoring on OCPP 2.0.1/2.1 (functional block N): SetVariableMonitoring,
ClearVariableMonitoring, SetMonitoringBase and SetMonitoringLevel, and the NotifyEvents the
station sends.

What the station watches:
- ``AvailabilityState`` of each EVSE's connector: a Delta monitor a CSMS sets reports every
  change of the word (Available, Occupied, Reserved, Unavailable, Faulted) if its severity is
  within the monitoring level. The station looks once a second, connected or not
  (``AvailabilityWatch``), and commits each change to the outbox: one seen while offline
  reaches the CSMS after the reconnect, in order, once (eventId: its outbox sequence). The
  words have no magnitude, so threshold and periodic monitors are refused
  (UnsupportedMonitorType).
- ``Power`` of each EVSE (W, as its meter reads it now): a Periodic monitor with a 2.1
  ``periodicEventStream`` streams it (``streams``); other monitors on it are refused
  (UnsupportedMonitorType), as periodic NotifyEvents are not sent.
- ``Problem`` of the station and of each EVSE: a charger fault the site sees and a driver's
  problem report are filed as problem reports and go through the outbox (at least once, kept
  while offline) as a NotifyEvent (``problem_event``), a hard-wired notification sent whatever
  the monitors and the level say.

Custom monitors and the level are kept in the identity's state file, so they live across
restarts; a monitor's id is the station's (the CSMS may name one to replace it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from edge_controller.domain.monitoring import MonitorTriggered
from edge_controller.domain.problems import ProblemHandled, ProblemReported, ProblemState
from edge_controller.uplink.device_model import DeviceModel, Variable
from edge_controller.uplink.device_model.catalog import BOOLEAN, DECIMAL, OPTION_LIST
from edge_controller.uplink.device_model.store import ACCEPTED, Address
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.rpc import on
from edge_controller.uplink.v201.status import EvseStatus, evse_status

AVAILABILITY_STATE, PROBLEM, POWER = "AvailabilityState", "Problem", "Power"
# A report's own event id is its number; an acknowledgement's or a resolution's is this plus its
# outbox sequence number: apart from report numbers and monitors' events (their sequence number
# alone), and the same at a resend.
HANDLED_EVENT_ID_BASE = 1_000_000_000
AVAILABILITY_WORDS = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
DELTA, PERIODIC = "Delta", "Periodic"
MAX_SEVERITY = 9  # the lowest priority: every monitor reports at this level
MONITORS_KEPT = 100  # custom monitors; beyond, a new one is Rejected


@dataclass(frozen=True, slots=True)
class Monitor:
    id: int
    component: str
    evse: int | None
    variable: str
    type: str
    severity: int
    value: float
    # A 2.1 periodic event stream's interval (s) and values; None: the monitor streams not.
    stream_interval_s: int | None = None
    stream_values: int | None = None

    def watches(self, component: str, evse: int | None, variable: str) -> bool:
        return (self.component, self.evse, self.variable) == (component, evse, variable)


# (monitor, EVSE number, the new AvailabilityState word)
Change = tuple[Monitor, int, str]


def monitored_variables(evses: int) -> list[Variable]:
    """The device model's variables monitoring is about (added to the station's)."""
    found = [Variable("ChargingStation", PROBLEM, BOOLEAN, fixed="false")]
    for evse in range(1, evses + 1):
        found.append(Variable("EVSE", PROBLEM, BOOLEAN, fixed="false", evse=evse))
        found.append(Variable("EVSE", POWER, DECIMAL, evse=evse, unit="W"))
        found.append(
            Variable("Connector", AVAILABILITY_STATE, OPTION_LIST, evse=evse, connector=1,
                     values_list=AVAILABILITY_WORDS)
        )  # fmt: skip
    return found


def _component(name: str, evse: int | None) -> dict[str, Any]:
    if evse is None:
        return {"name": name}
    if name == "Connector":
        return {"name": name, "evse": {"id": evse, "connectorId": 1}}
    return {"name": name, "evse": {"id": evse}}


class MonitoringHandlers:
    def __init__(self, link: IdentityLink, model: DeviceModel) -> None:
        self.link = link
        self.model = model
        self.level, self.monitors = stored_monitors(link.config.monitoring())

    def _save(self) -> None:
        monitors = [asdict(m) for m in self.monitors.values()]
        self.link.config.set_monitoring({"level": self.level, "monitors": monitors})

    @on("SetVariableMonitoring")
    async def on_set_variable_monitoring(self, payload: dict[str, Any]) -> dict[str, Any]:
        results = [self._set(item) for item in payload["setMonitoringData"]]
        self._save()
        return {"setMonitoringResult": results}

    def _set(self, item: dict[str, Any]) -> dict[str, Any]:
        kind, severity = str(item["type"]), int(item["severity"])
        answer = {"type": kind, "severity": severity, "component": item["component"],
                  "variable": item["variable"]}  # fmt: skip
        address = Address.of(item)
        found = self.model.find(address)
        if found.status != ACCEPTED or found.variable is None:
            return {"status": found.status, **answer}
        stream = item.get("periodicEventStream")
        if not _supported(found.variable, kind, stream):
            return {"status": "UnsupportedMonitorType", **answer}
        wanted = item.get("id")
        if wanted is not None and int(wanted) not in self.monitors:
            return {"status": "Rejected", **answer}  # an id names an existing monitor only
        same = [m for m in self.monitors.values()
                if m.watches(address.component, address.evse, address.variable)
                and m.type == kind and m.id != wanted]  # fmt: skip
        if same:
            return {"status": "Duplicate", **answer}
        if wanted is None and len(self.monitors) >= MONITORS_KEPT:
            return {"status": "Rejected", **answer}
        number = int(wanted) if wanted is not None else max(self.monitors, default=0) + 1
        interval_s, values = (None, None) if stream is None else _stream_params(stream)
        self.monitors[number] = Monitor(number, address.component, address.evse,
                                        address.variable, kind, severity,
                                        float(item["value"]), interval_s, values)  # fmt: skip
        self.link.log.info("variable monitor set", id=number, variable=address.variable,
                           evse=address.evse, severity=severity)  # fmt: skip
        return {"status": "Accepted", "id": number, **answer}

    def adjust_stream(self, number: int, interval_s: int, values: int) -> None:
        """A stream's new interval and values (AdjustPeriodicEventStream), kept with its
        monitor."""
        monitor = self.monitors.get(number)
        if monitor is not None:
            self.monitors[number] = replace(
                monitor, stream_interval_s=interval_s, stream_values=values
            )
            self._save()

    @on("ClearVariableMonitoring")
    async def on_clear_variable_monitoring(self, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for number in payload["id"]:
            gone = self.monitors.pop(int(number), None)
            results.append({"id": int(number), "status": "Accepted" if gone else "NotFound"})
        self._save()
        return {"clearMonitoringResult": results}

    @on("SetMonitoringBase")
    async def on_set_monitoring_base(self, payload: dict[str, Any]) -> dict[str, Any]:
        # No preconfigured monitors here: All keeps the custom ones, the others start afresh.
        if payload["monitoringBase"] != "All":
            self.monitors.clear()
            self._save()
        return {"status": "Accepted"}

    @on("SetMonitoringLevel")
    async def on_set_monitoring_level(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.level = int(payload["severity"])
        self._save()
        return {"status": "Accepted"}


def stored_monitors(stored: Mapping[str, Any]) -> tuple[int, dict[int, Monitor]]:
    """The monitoring level and the custom monitors by id, as the state file keeps them."""
    level = int(stored.get("level", MAX_SEVERITY))
    monitors = {
        int(m["id"]): Monitor(**m) for m in stored.get("monitors", []) if isinstance(m, dict)
    }
    return level, monitors


def availability_changes(
    monitors: Iterable[Monitor], level: int, before: Mapping[int, str], now: Mapping[int, str]
) -> list[Change]:
    """(monitor, EVSE, new word) for each EVSE whose AvailabilityState changed from ``before``
    to ``now`` (by EVSE number) under a monitor within ``level``. Pure."""
    watching = list(monitors)
    found = []
    for evse, word in sorted(now.items()):
        if before.get(evse, word) == word:
            continue
        for monitor in watching:
            if monitor.watches("Connector", evse, AVAILABILITY_STATE) and monitor.severity <= level:
                found.append((monitor, evse, word))
    return found


def evse_statuses(link: IdentityLink) -> list[EvseStatus]:
    """Each EVSE's status as its StatusNotification says it (one not read yet: left out)."""
    local_ids = link.topology.connectors(link.identity)
    views = {s.connector_id: s for s in link.status.states_of(local_ids)}
    found = []
    for number, local in enumerate(local_ids, start=1):
        view = views.get(local)
        if view is not None:
            found.append(evse_status(number, view, link.config.inoperative(number)))
    return found


class AvailabilityWatch:
    """One identity's AvailabilityState changes under its monitors, committed to the outbox
    whether a connection is up or not (the first look is the baseline)."""

    def __init__(self, link: IdentityLink, wake: Callable[[], None]) -> None:
        self.link = link
        self._wake = wake
        self._before: dict[int, str] | None = None

    def changes(self) -> list[Change]:
        """The monitored changes since the last look (none at the first: it is the baseline)."""
        now = {s.evse_id: s.status for s in evse_statuses(self.link)}
        before, self._before = self._before, now
        if before is None:
            return []
        level, monitors = stored_monitors(self.link.config.monitoring())
        return availability_changes(monitors.values(), level, before, now)

    async def commit(self, changes: Sequence[Change]) -> None:
        """``changes`` into the outbox, and its sender woken (nothing for none)."""
        if not changes:
            return
        at_s = self.link.now_s()
        local_ids = self.link.topology.connectors(self.link.identity)
        for monitor, evse, word in changes:
            event = MonitorTriggered(monitor.id, local_ids[evse - 1], AVAILABILITY_STATE, word,
                                     at_s)  # fmt: skip
            await self.link.outbox.append(self.link.identity, event)
            self.link.log.info("monitored change", monitor=monitor.id, evse=evse, value=word)
        self._wake()


def monitor_event(event: MonitorTriggered, evse: int, at_iso: str, event_id: int) -> dict[str, Any]:
    """The NotifyEvent of a monitored change on EVSE ``evse``; ``event_id`` is its outbox
    sequence, so a resent one is the same message and no two changes share an id."""
    data = {
        "eventId": event_id,
        "timestamp": at_iso,
        "trigger": DELTA,
        "actualValue": event.value,
        "eventNotificationType": "CustomMonitor",
        "variableMonitoringId": event.monitor_id,
        "component": _component("Connector", evse),
        "variable": {"name": event.variable},
    }
    return notify_event(at_iso, [data])


def notify_event(generated_iso: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"generatedAt": generated_iso, "seqNo": 0, "eventData": events}


def problem_event(report: ProblemReported, evse: int | None, at_iso: str) -> dict[str, Any]:
    """The NotifyEvent of a filed problem report (a driver's, or a fault the site saw), on
    EVSE ``evse`` (None: the station). Everything comes from the stored report, so a resent
    one is the same message."""
    event = {
        "eventId": _number(report.reference),
        "timestamp": at_iso,
        "trigger": "Alerting",
        "actualValue": "true",
        "techCode": report.kind.value,
        "techInfo": f"{report.reference} ({report.source}): {report.text}"[:500],
        "eventNotificationType": "HardWiredNotification",
        "component": _component("EVSE" if evse is not None else "ChargingStation", evse),
        "variable": {"name": PROBLEM},
    }
    return notify_event(at_iso, [event])


def _number(reference: str) -> int:
    return int(reference.removeprefix("P-")) if reference[2:].isdigit() else 0


def problem_handled_event(
    change: ProblemHandled, seq: int, evse: int | None, at_iso: str
) -> dict[str, Any]:
    """The NotifyEvent of a report acknowledged, resolved or noted on (outbox row ``seq``):
    caused by the report's event; the Problem's value is whether the report is still open, and
    the resolution clears it (``cleared``)."""
    resolved = change.state is ProblemState.RESOLVED
    info = f"{change.reference} {change.done} by {change.by}"
    event: dict[str, Any] = {
        "eventId": HANDLED_EVENT_ID_BASE + seq,
        "timestamp": at_iso,
        "trigger": "Alerting",
        "cause": _number(change.reference),
        "actualValue": "false" if resolved else "true",
        "techCode": change.done,
        "techInfo": (f"{info}: {change.note}" if change.note else info)[:500],
        "eventNotificationType": "HardWiredNotification",
        "component": _component("EVSE" if evse is not None else "ChargingStation", evse),
        "variable": {"name": PROBLEM},
    }
    if change.done == ProblemState.RESOLVED.value:
        event["cleared"] = True
    return notify_event(at_iso, [event])


def _supported(variable: Variable, kind: str, stream: object) -> bool:
    """Delta on the availability word; a streaming Periodic monitor on an EVSE's power (a
    monitor value is its read interval, at least a tenth of a second)."""
    if variable.name == AVAILABILITY_STATE:
        return kind == DELTA and stream is None
    return variable.name == POWER and kind == PERIODIC and isinstance(stream, dict)


def _stream_params(stream: dict[str, Any]) -> tuple[int, int]:
    return int(stream.get("interval", 0)), int(stream.get("values", 0))
