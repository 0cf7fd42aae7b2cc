"""Authorization decisions (pure)."""

from __future__ import annotations

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.authorization import (
    AuthEntry,
    AuthPolicy,
    AuthStatus,
    decide,
    late_answer_stops,
    pre_authorize,
    same_owner,
)

CARD = Token("04A2B3C4")
RANDOM = Token("08112233", random_uid=True)
OK = AuthEntry("04A2B3C4", AuthStatus.ACCEPTED)
POLICY = AuthPolicy()


def test_online_answer_wins_and_is_cached() -> None:
    blocked = AuthEntry("04A2B3C4", AuthStatus.BLOCKED)
    decision = decide(CARD, OK, None, blocked, POLICY, now_s=0.0)
    assert not decision.accepted and decision.status is AuthStatus.BLOCKED
    assert decision.cache == blocked and not decision.offline


def test_random_uid_is_never_cached() -> None:
    answer = AuthEntry(RANDOM.id_tag, AuthStatus.ACCEPTED)
    assert decide(RANDOM, None, None, answer, POLICY, now_s=0.0).cache is None
    assert pre_authorize(RANDOM, None, answer, POLICY, 0.0) is None


def test_offline_uses_local_list_then_cache() -> None:
    assert decide(CARD, OK, None, None, POLICY, now_s=0.0).accepted
    cached = decide(CARD, None, OK, None, POLICY, now_s=0.0)
    assert cached.accepted and cached.offline and "cache" in cached.reason


def test_offline_unknown_refused_by_default_allowed_with_cap() -> None:
    refused = decide(CARD, None, None, None, POLICY, now_s=0.0)
    assert not refused.accepted and refused.offline
    lenient = AuthPolicy(allow_unknown_offline=True, unknown_offline_energy_cap_wh=5000)
    allowed = decide(CARD, None, None, None, lenient, now_s=0.0)
    assert allowed.accepted and allowed.energy_cap_wh == 5000


def test_offline_blocked_list_entry_refuses_even_when_unknown_allowed() -> None:
    blocked = AuthEntry(CARD.id_tag, AuthStatus.BLOCKED)
    lenient = AuthPolicy(allow_unknown_offline=True)
    assert not decide(CARD, blocked, None, None, lenient, now_s=0.0).accepted


def test_expiry_turns_accepted_into_expired() -> None:
    expiring = AuthEntry(CARD.id_tag, AuthStatus.ACCEPTED, expiry_at_s=100.0)
    assert decide(CARD, expiring, None, None, POLICY, now_s=99.0).accepted
    late = decide(CARD, expiring, None, None, POLICY, now_s=100.0)
    assert not late.accepted and late.status is AuthStatus.EXPIRED
    # an expired cache entry says nothing: the offline policy decides
    assert pre_authorize(CARD, None, expiring, POLICY, 100.0) is None


def test_list_ignored_offline_when_policy_says_so() -> None:
    strict = AuthPolicy(offline_authorize_from_list=False)
    assert not decide(CARD, OK, None, None, strict, now_s=0.0).accepted


def test_free_vend_accepts_everyone_as_the_fixed_id() -> None:
    free = AuthPolicy(free_vend_id_tag="FREEVEND")
    decision = decide(RANDOM, None, None, None, free, now_s=0.0)
    assert decision.accepted and decision.id_tag == "FREEVEND"


def test_late_rejection_stops_when_policy_asks() -> None:
    invalid = AuthEntry(CARD.id_tag, AuthStatus.INVALID)
    assert late_answer_stops(invalid, POLICY, 0.0)
    assert not late_answer_stops(OK, POLICY, 0.0)
    assert not late_answer_stops(invalid, AuthPolicy(stop_on_invalid=False), 0.0)
    expired = AuthEntry(CARD.id_tag, AuthStatus.ACCEPTED, expiry_at_s=10.0)
    assert late_answer_stops(expired, POLICY, 10.0)


def test_same_owner_by_id_or_group() -> None:
    assert same_owner("AA", None, "aa", None)
    assert same_owner("AA", "FLEET", "BB", "fleet")
    assert not same_owner("AA", "FLEET", "BB", None)
    assert not same_owner("AA", None, "BB", "FLEET")
