"""Authorization decisions (``domain.sessions.authorization``), one case per file in
``authorization_cases/``, named after the case; ``OCPP_201_CASES`` names the OCPP 2.0.1
authorization cases (C01, C09, C10, C12-C16) they follow.

A case gives the ``token`` tapped (``id_tag``, ``random_uid``), the site's ``policy``
(``AuthPolicy`` fields), what is known about the token: its ``local`` list entry, its ``cached``
entry and the ``csms`` answer (each ``status`` with optional ``expiry_at_s`` and ``parent``; a
missing ``csms`` means the uplink is down or did not answer in time), and ``now_s``. Expected:
  expect        the decision: accepted, status, reason (whole), id_tag, offline, energy_cap_wh,
                parent, cached (the entry to store in the cache: its status, or null),
                master_pass (a token of AuthCtrlr.MasterPassGroupId: stops, never starts)
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
# The OCPP 2.0.1 authorization cases (C) these decisions follow, and the files that show them
# (the 1.6 key names are the same store: LocalAuthorizeOffline, AllowOfflineTxForUnknownId).
OCPP_201_CASES = {
    "C01 authorization of a card by the CSMS": ["card_refused_by_the_csms"],
    "C09 authorization by group id": ["fleet_colleague_may_stop_the_session"],
    "C10 authorization data stored in the cache": [
        "online_accepted_is_cached", "phone_with_a_random_uid_is_never_cached",
        "cache_switched_off_online",
    ],
    "C12 start with a cached id": ["offline_card_in_the_cache", "cache_switched_off"],
    "C13 offline authorization through the local list": [
        "offline_card_on_the_local_list", "local_list_entry_expires",
        "local_list_not_trusted_offline",
    ],
    "C14 online authorization through the local list": ["online_blocked_wins_over_the_local_list"],
    "C15 offline authorization of an unknown id": [
        "offline_unknown_card_refused", "offline_unknown_card_allowed_with_an_energy_cap",
        "offline_blocked_card_refused_even_when_unknown_cards_may_charge",
    ],
    "C16 stop with a master pass": [
        "master_pass_card_starts_nothing", "master_pass_offline_from_the_local_list",
        "blocked_card_of_the_master_pass_group_is_no_master_pass",
    ],
}  # fmt: skip


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
        "master_pass": decision.master_pass,
    }
    assert {key: got[key] for key in want} == want, got


def test_there_are_cases() -> None:
    assert len(CASES) >= 15


def test_every_2_0_1_case_cited_has_its_files() -> None:
    names = {path.stem for path in CASES}
    for case, files in OCPP_201_CASES.items():
        assert set(files) <= names, case


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
