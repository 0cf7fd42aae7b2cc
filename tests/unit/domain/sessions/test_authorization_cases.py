"""Authorization decisions (``domain.sessions.authorization``), one case per file in
``authorization_cases/``, named after the case.

A case gives the ``token`` tapped (``id_tag``, ``random_uid``), the site's ``policy``
(``AuthPolicy`` fields), what is known about the token: its ``local`` list entry, its ``cached``
entry and the ``csms`` answer (each ``status`` with optional ``expiry_at_s`` and ``parent``; a
missing ``csms`` means the uplink is down or did not answer in time), and ``now_s``. Expected:
  expect        the decision: accepted, status, reason (whole), id_tag, offline, energy_cap_wh,
                parent, cached (the entry to store in the cache: its status, or null)
  local_answer  what the local list and cache say before the CSMS answers (pre-authorize):
                null when they do not know the token, else accepted and reason
  later         the CSMS's answer arriving during the session (``csms`` and ``now_s``) and
                whether it ``stops`` the session (StopTransactionOnInvalidId)
  who_may_stop  other tokens (``id_tag``, ``parent``) and whether each may stop the session
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.authorization import (
    AuthDecision,
    AuthEntry,
    AuthPolicy,
    AuthStatus,
    decide,
    late_answer_stops,
    pre_authorize,
    same_owner,
)

CASES = sorted((Path(__file__).parent / "authorization_cases").glob("*.yaml"))


def _entry(id_tag: str, raw: dict[str, Any] | None) -> AuthEntry | None:
    if raw is None:
        return None
    return AuthEntry(id_tag, AuthStatus(raw["status"]), raw.get("expiry_at_s"), raw.get("parent"))


def _check_decision(decision: AuthDecision, want: dict[str, Any]) -> None:
    got = {
        "accepted": decision.accepted,
        "status": decision.status.value,
        "reason": decision.reason,
        "id_tag": decision.id_tag,
        "offline": decision.offline,
        "energy_cap_wh": decision.energy_cap_wh,
        "parent": decision.parent_id_tag,
        "cached": None if decision.cache is None else decision.cache.status.value,
    }
    assert {key: got[key] for key in want} == want, got


def test_there_are_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    token = Token(str(raw["token"]["id_tag"]), bool(raw["token"].get("random_uid", False)))
    policy = AuthPolicy(**raw.get("policy", {}))
    local = _entry(token.id_tag, raw.get("local"))
    cached = _entry(token.id_tag, raw.get("cached"))
    online = _entry(token.id_tag, raw.get("csms"))
    now_s = float(raw.get("now_s", 0.0))
    decision = decide(token, local, cached, online, policy, now_s=now_s)
    _check_decision(decision, raw["expect"])
    if "local_answer" in raw:
        local_answer = pre_authorize(token, local, cached, policy, now_s)
        want = raw["local_answer"]
        if want is None:
            assert local_answer is None, local_answer
        else:
            assert local_answer is not None
            _check_decision(local_answer, want)
    if "later" in raw:
        later = raw["later"]
        answer = _entry(token.id_tag, later["csms"])
        assert answer is not None
        stops = late_answer_stops(answer, policy, float(later["now_s"]))
        assert stops is later["stops"], later
    for other in raw.get("who_may_stop", []):
        allowed = same_owner(
            decision.id_tag, decision.parent_id_tag, str(other["id_tag"]), other.get("parent")
        )
        assert allowed is other["allowed"], other
