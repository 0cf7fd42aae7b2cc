"""The status a connector shows, against the OCPP 1.6 connector state table. Pure.

``ocpp16_status_table.yaml`` is the table written down from the specification; each file in
``status_stories/`` is one story a connector lives through, step by step, run through the
session state machine (``domain.sessions``) and ``domain.connector_status.shown`` as the daemon
composes them. Every status shown must be the one expected and every change allowed; together
the stories show every allowed change except the few the table file names with a reason.

Story steps (each key optional; applied in this order, then the status is looked at):
  ev: plug | unplug        the EV (IEC 61851 A vs B/C) as the charger reports it
  fault: true | false      the charger reports a fault (with the EV as it is)
  claim: TAG               a start command claims the connector while TAG is authorised
  answer: TAG | refused    the authorisation of that claim
  card: TAG                an authorised start (a card, a CSMS start, free vend)
  recording: pending       the session's start is being recorded (no ``Opened`` yet)
  recorded: true           it is recorded now
  stop: <OCPP reason>      a stop request (card, command, CSMS)
  after_s: N               N seconds pass (a tick)
  seen: <status>           what the charger side shows (pilot, offer, enabled, fault)
  reserved: true | false   a live reservation holds the connector
  expect: <status>         the status shown after this step
  reported: [<status>...]  where the change to it is not in the table: the StatusNotifications
                           that report it (``connector_status.path``); no step may need one
                           without saying so
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions import state as sm
from edge_controller.domain.sessions.connector_status import ALLOWED, allowed, path, shown
from edge_controller.domain.snapshot import Availability

HERE = Path(__file__).parent
TABLE = yaml.safe_load((HERE / "ocpp16_status_table.yaml").read_text(encoding="utf-8"))
STORIES = sorted((HERE / "status_stories").glob("*.yaml"))
TIMEOUTS = sm.Timeouts(plug_timeout_s=60.0, auth_timeout_s=120.0, claim_timeout_s=30.0)
Cell = tuple[Availability, Availability]


@dataclass
class Connector:
    """One connector as the daemon sees it: session state plus the charger side's view."""

    state: sm.SessionState = field(default_factory=sm.SessionState)
    seen: Availability = Availability.AVAILABLE
    reserved: bool = False
    now_s: float = 0.0
    opened: int = 0
    claimed: sm.Authorization | None = None

    def feed(self, event: sm.Event, *, record: bool = True) -> None:
        pending = [event]
        while pending:
            self.state, actions = sm.transition(self.state, pending.pop(0), self.now_s, TIMEOUTS)
            if record and any(isinstance(a, sm.OpenSession) for a in actions):
                self.opened += 1
                pending.append(sm.Opened(self.opened))

    def step(self, step: dict[str, Any]) -> Availability:
        record = step.get("recording") != "pending"
        plugged = self.state.plugged
        if "ev" in step or "fault" in step:
            plugged = step.get("ev", "plug" if plugged else "unplug") == "plug"
            self.feed(sm.ChargerSeen(plugged, bool(step.get("fault", False))), record=record)
        if "claim" in step:
            self.claimed = sm.Authorization(step["claim"], "mqtt")
            self.feed(sm.Claimed(self.claimed))
        if "answer" in step and self.claimed is not None:
            granted = None if step["answer"] == "refused" else self.claimed
            self.feed(sm.ClaimAnswered(self.claimed, granted), record=record)
        if "card" in step:
            self.feed(sm.Authorized(sm.Authorization(step["card"])), record=record)
        if step.get("recorded"):
            self.opened += 1
            self.feed(sm.Opened(self.opened))
        if "stop" in step:
            self.feed(sm.StopRequested(StopReason(step["stop"])))
        if "after_s" in step:
            self.now_s += float(step["after_s"])
            self.feed(sm.Tick())
        self.seen = Availability(step.get("seen", self.seen.value))
        self.reserved = bool(step.get("reserved", self.reserved))
        return shown(self.seen, self.state.phase, self.reserved)


def run_story(steps: list[dict[str, Any]]) -> list[Cell]:
    """Runs a story; returns the changes it reported, each checked against the table."""
    connector, before, changes = Connector(), Availability.AVAILABLE, []
    for n, step in enumerate(steps, start=1):
        now = connector.step(step)
        where = f"step {n} {step}: phase {connector.state.phase.value}"
        assert now.value == step["expect"], f"{where}: shows {now.value}"
        reported = path(before, now) if now is not before else ()
        said = [Availability(s) for s in step.get("reported", [now.value])]
        assert not reported or list(reported) == said, f"{where}: reported {reported}"
        for after in reported:
            assert allowed(before, after), f"{where}: {before.value} -> {after.value}"
            changes.append((before, after))
            before = after
    return changes


def _cell(text: str) -> Cell:
    before, after = (part.strip() for part in text.split("->"))
    return Availability(before), Availability(after)


def test_the_table_in_the_code_is_the_one_in_the_specification() -> None:
    written = {Availability(k): {Availability(v) for v in vs} for k, vs in TABLE["allowed"].items()}
    assert set(written) == set(Availability)
    for before in Availability:
        for after in Availability:
            expected = after in written[before]
            assert (after in ALLOWED[before]) is expected, (before.value, after.value)


@pytest.mark.parametrize("story", STORIES, ids=[p.stem for p in STORIES])
def test_story(story: Path) -> None:
    run_story(yaml.safe_load(story.read_text(encoding="utf-8"))["steps"])


def test_the_stories_show_every_allowed_change() -> None:
    shown_cells: set[Cell] = set()
    for story in STORIES:
        shown_cells |= set(run_story(yaml.safe_load(story.read_text(encoding="utf-8"))["steps"]))
    every = {(b, a) for b, after in ALLOWED.items() for a in after}
    never = {_cell(text) for text in TABLE["never_shown"]}
    assert never <= every
    assert every - never - shown_cells == set()
    assert never & shown_cells == set()  # a change said to be impossible must really be


@pytest.mark.parametrize(
    ("before", "after"),
    [(b, a) for b in Availability for a in Availability if b is not a and not allowed(b, a)],
    ids=lambda s: s.value,
)
def test_a_forbidden_change_is_reported_with_one_allowed_status_between(
    before: Availability, after: Availability
) -> None:
    steps = path(before, after)
    assert len(steps) == 2 and steps[-1] is after
    assert allowed(before, steps[0]) and allowed(steps[0], after)


def test_an_allowed_change_is_reported_directly() -> None:
    assert path(Availability.CHARGING, Availability.FINISHING) == (Availability.FINISHING,)
    assert path(None, Availability.FINISHING) == (Availability.FINISHING,)  # a new connection
