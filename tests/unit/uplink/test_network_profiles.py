"""Network profiles a CSMS sets: what is refused (never a lower security profile), what is
tried next, what is kept after a restart, and the fall back to the one before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_controller.uplink.network_profiles import NetworkProfile, NetworkProfiles, check_profile

CONFIGURED = NetworkProfile("wss://a.example/ocpp", 1, 30.0)


def _data(**changes: Any) -> dict[str, Any]:
    data = {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://b.example/o",
            "messageTimeout": 20, "securityProfile": 2, "ocppInterface": "Wired0"}  # fmt: skip
    return data | changes


@pytest.mark.parametrize(
    ("changes", "floor", "cert", "secret", "why"),
    [
        ({}, 1, False, True, ""),
        ({"securityProfile": 3}, 2, True, False, ""),
        ({"securityProfile": 0, "ocppCsmsUrl": "ws://b.example/o"}, 1, False, True, "below 1"),
        ({"securityProfile": 1}, 2, False, True, "below 2"),
        ({"ocppTransport": "SOAP"}, 0, False, True, "JSON"),
        ({"ocppVersion": "OCPP16"}, 0, False, True, "OCPP version"),
        ({"ocppCsmsUrl": "ws://b.example/o"}, 0, False, True, "wss://"),
        ({"ocppCsmsUrl": "http://b.example/o"}, 0, False, True, "no ws://"),
        ({}, 0, False, False, "no password"),
        ({"securityProfile": 3}, 0, False, True, "no client certificate"),
    ],
)
def test_b09_a05_what_a_network_profile_may_be(
    changes: dict[str, Any], floor: int, cert: bool, secret: bool, why: str
) -> None:
    found = check_profile(_data(**changes), floor, cert, secret)
    assert (why in found) if why else found == ""


def test_b09_a_new_profile_is_tried_next_and_kept_when_it_connects(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    profiles = NetworkProfiles(path, CONFIGURED)
    new = NetworkProfile("wss://b.example/o", 2, 20.0, slot=1)
    profiles.set(new)
    assert profiles.next_attempt() == new and profiles.in_use() == CONFIGURED
    profiles.connected(new)
    again = NetworkProfiles(path, CONFIGURED)  # after a restart
    assert again.next_attempt() == new and again.in_use() == new and again.floor == 2


def test_b09_a_new_profile_that_fails_falls_back_to_the_one_before(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    profiles = NetworkProfiles(path, CONFIGURED)
    first = NetworkProfile("wss://b.example/o", 1, 20.0, slot=1)
    profiles.set(first)
    profiles.connected(first)
    broken = NetworkProfile("wss://c.example/o", 2, 20.0, slot=2)
    profiles.set(broken)
    assert profiles.failed(broken)
    assert profiles.next_attempt() == first
    assert not profiles.failed(first)  # the one in use is kept through outages
    assert NetworkProfiles(path, CONFIGURED).next_attempt() == first


def test_a05_the_floor_is_the_highest_profile_that_connected(tmp_path: Path) -> None:
    profiles = NetworkProfiles(tmp_path / "network.json", CONFIGURED)
    assert profiles.floor == 0
    profiles.connected(CONFIGURED)
    assert profiles.floor == 1
    assert NetworkProfiles(tmp_path / "network.json", NetworkProfile("ws://x/", 0, 30.0)).floor == 1


def _three(tmp_path: Path) -> tuple[NetworkProfiles, NetworkProfile, NetworkProfile]:
    profiles = NetworkProfiles(tmp_path / "network.json", CONFIGURED)
    one = NetworkProfile("wss://one.example/o", 2, 20.0, slot=1)
    two = NetworkProfile("wss://two.example/o", 2, 20.0, slot=2)
    profiles.set(one)
    profiles.set(two)
    return profiles, one, two


def test_b10_a_priority_names_stored_usable_slots_once(tmp_path: Path) -> None:
    profiles, _, _ = _three(tmp_path)
    assert profiles.why_not_priority((2, 1)) == ""
    assert "twice" in profiles.why_not_priority((1, 1))
    assert "slot 3 holds no" in profiles.why_not_priority((1, 3))
    profiles.floor = 3
    assert "below 3" in profiles.why_not_priority((1,))


def test_b10_the_priority_is_tried_in_order_after_the_attempts_then_again(
    tmp_path: Path,
) -> None:
    profiles, one, two = _three(tmp_path)
    profiles.set_priority((2, 1))
    tried = []
    for _ in range(7):
        attempt = profiles.next_attempt()
        tried.append(attempt.slot)
        assert not profiles.failed(attempt, attempts=2)
    assert tried == [2, 2, 1, 1, -1, -1, 2]  # the configured one last, then the first again
    profiles.connected(one)
    assert profiles.in_use() == one
    assert not profiles.failed(one, attempts=2)
    assert profiles.next_attempt() == one  # one failure: still the one that worked
    again = NetworkProfiles(tmp_path / "network.json", CONFIGURED)  # after a restart
    assert again.priority == (2, 1) and again.next_attempt() == two and again.in_use() == one


def test_b10_with_a_priority_a_profile_set_is_only_stored(tmp_path: Path) -> None:
    profiles, one, two = _three(tmp_path)
    assert profiles.next_attempt() == two  # no priority: the one set last is tried next
    profiles.set_priority((1,))
    assert profiles.next_attempt() == one
    three = NetworkProfile("wss://three.example/o", 2, 20.0, slot=3)
    profiles.set(three)
    assert profiles.next_attempt() == one
    assert not profiles.failed(one)
    assert profiles.next_attempt() == CONFIGURED
