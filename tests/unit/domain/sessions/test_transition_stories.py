"""The session state machine (``domain.sessions.state``), one story per file in
``transition_stories/``, named after what the connector lives through.

A story starts from a free connector (or ``recovering: <local id>``: a session found open at
start-up) with the ``timeouts`` it gives, and feeds one event per step at its ``at_s`` (the time
stays where it was when a step gives none):
  ev: plug | unplug         the charger reports the EV (``fault: true`` with it: and a fault)
  card: TAG                 an authorised start (card, CSMS start, free vend); ``offline: true``,
                            ``reservation: N`` and ``energy_cap_wh: N`` describe it further
  claim: TAG                a start command takes the connector while TAG is checked
  answer: granted|refused   the authorisation of the latest claim
  opened: N                 the session's start is recorded with local id N
  open_failed: TEXT         recording it failed
  stop: <OCPP reason>       a stop request (``by: TAG``: the card or id that asked)
  tick: true                time passes to ``at_s``
Each step expects the ``phase`` after it and exactly the ``actions`` it caused (none when the
key is missing), written as the daemon carries them out: "open for TAG", "allow charging",
"stop charging", "close 7 EVDisconnected [by TAG] [from last known meter]". Optional:
``local_id``, ``deadline_s``, ``may_start: {TAG: bool}`` (whether a start for TAG may take the
connector now).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions import state as sm

STORIES = sorted((Path(__file__).parent / "transition_stories").glob("*.yaml"))


def _auth(step: dict[str, Any], tag: str) -> sm.Authorization:
    return sm.Authorization(
        tag,
        offline=bool(step.get("offline", False)),
        energy_cap_wh=step.get("energy_cap_wh"),
        reservation_id=step.get("reservation"),
    )


class Story:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.timeouts = sm.Timeouts(**raw.get("timeouts", {}))
        recovering = raw.get("recovering")
        self.state = sm.SessionState() if recovering is None else sm.recovering(recovering)
        self.now_s = 0.0
        self.claimed: sm.Authorization | None = None

    def event(self, step: dict[str, Any]) -> sm.Event:
        if "ev" in step:
            return sm.ChargerSeen(step["ev"] == "plug", bool(step.get("fault", False)))
        if "card" in step:
            return sm.Authorized(_auth(step, step["card"]))
        if "claim" in step:
            self.claimed = _auth(step, step["claim"])
            return sm.Claimed(self.claimed)
        if "answer" in step:
            assert self.claimed is not None, "an answer needs a claim before it"
            granted = self.claimed if step["answer"] == "granted" else None
            return sm.ClaimAnswered(self.claimed, granted)
        if "opened" in step:
            return sm.Opened(int(step["opened"]))
        if "open_failed" in step:
            return sm.OpenFailed(str(step["open_failed"]))
        if "stop" in step:
            return sm.StopRequested(StopReason(step["stop"]), step.get("by"))
        assert step.get("tick"), f"a step without an event: {step}"
        return sm.Tick()

    def step(self, step: dict[str, Any]) -> list[str]:
        self.now_s = float(step.get("at_s", self.now_s))
        event = self.event(step)
        self.state, actions = sm.transition(self.state, event, self.now_s, self.timeouts)
        return [_said(action) for action in actions]


def _said(action: sm.Action) -> str:
    if isinstance(action, sm.AllowCharging):
        return "allow charging" if action.allowed else "stop charging"
    if isinstance(action, sm.OpenSession):
        auth = action.auth
        text = f"open for {auth.id_tag}"
        text += " offline" if auth.offline else ""
        text += f" with reservation {auth.reservation_id}" if auth.reservation_id else ""
        return text + (f" capped at {auth.energy_cap_wh} Wh" if auth.energy_cap_wh else "")
    text = f"close {action.local_id} {action.reason.value}"
    text += f" by {action.id_tag}" if action.id_tag else ""
    return text + (" from last known meter" if action.use_last_known_meter else "")


def test_there_are_stories() -> None:
    assert len(STORIES) >= 15


@pytest.mark.parametrize("path", STORIES, ids=lambda p: p.stem)
def test_story(path: Path) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    story = Story(raw)
    for number, step in enumerate(raw["steps"], start=1):
        actions = story.step(step)
        state = story.state
        where = f"step {number} {step}: {state}"
        assert state.phase.value == step["phase"], where
        assert actions == step.get("actions", []), where
        if "local_id" in step:
            assert state.local_id == step["local_id"], where
        if "deadline_s" in step:
            assert state.deadline_s == step["deadline_s"], where
        for tag, allowed in step.get("may_start", {}).items():
            assert sm.may_start(state, tag) is allowed, f"{where}: may_start({tag})"
