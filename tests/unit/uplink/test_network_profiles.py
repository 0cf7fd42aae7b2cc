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
