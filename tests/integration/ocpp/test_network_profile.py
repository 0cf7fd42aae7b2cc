"""OCPP 2.0.1 B09 (SetNetworkProfile) and A05 (no security downgrade), against two
schema-strict CSMSs in 2.0.1 and 2.1 mode: a stored profile is tried at the next connect
(after a Reset) and kept when it works, one that fails gives way to the one before, a profile
the station cannot use is Rejected, and a lower security profile is never used again."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer

pytestmark = pytest.mark.integration
PASSWORD = "s3cret-key-0123456"


async def ask(peer: StrictPeer, action: str, params: dict[str, Any]) -> dict[str, Any]:
    count = len(peer.answers(action))
    await peer.send(IDENTITY, action, params)
    await wait_for(lambda: len(peer.answers(action)) > count)
    answer = peer.answers(action)[count]
    assert answer["event"] == "answer", answer
    return dict(answer["result"])


def _profile(slot: int, url: str, **changes: Any) -> dict[str, Any]:
    data = {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": url,
            "messageTimeout": 5, "securityProfile": 0, "ocppInterface": "Wired0"}  # fmt: skip
    return {"configurationSlot": slot, "connectionData": data | changes}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_b09_network_profile_tried_at_the_next_connect_with_fall_back(
    tmp_path: Path, version: str
) -> None:
    protocol = "ocpp" + version
    async with (
        strict_peer(protocols=protocol) as first,
        strict_peer(protocols=protocol) as second,
        open_outbox(tmp_path / "db") as outbox,
    ):
        settings = settings_for(f"ws://127.0.0.1:{first.port}", version=version)
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await wait_for(lambda: len(first.calls("BootNotification")) == 1)
            url = f"ws://127.0.0.1:{second.port}"
            for refused in (
                _profile(2, url, ocppTransport="SOAP"),
                _profile(2, url, securityProfile=2),  # needs wss://
                _profile(2, url.replace("ws:", "wss:"), securityProfile=3),  # no certificate
            ):
                answer = await ask(first, "SetNetworkProfile", refused)
                assert answer["status"] == "Rejected" and answer["statusInfo"]["additionalInfo"]
            assert (await ask(first, "SetNetworkProfile", _profile(1, url)))["status"] == "Accepted"
            # Nothing changes until the next connect: a Reset.
            assert len(second.calls("BootNotification")) == 0
            assert (await ask(first, "Reset", {"type": "Immediate"}))["status"] == "Accepted"
            await wait_for(lambda: len(second.calls("BootNotification")) == 1)
            assert second.calls("BootNotification")[0]["params"]["reason"] == "RemoteReset"
            # A profile that cannot connect: the station goes back to the one in use.
            dead = _profile(2, f"ws://127.0.0.1:{_closed_port()}")
            assert (await ask(second, "SetNetworkProfile", dead))["status"] == "Accepted"
            assert (await ask(second, "Reset", {"type": "Immediate"}))["status"] == "Accepted"
            await wait_for(lambda: len(second.calls("BootNotification")) == 2)
        assert len(first.calls("BootNotification")) == 1
        # After a restart the profile in use is still the one set.
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await wait_for(lambda: len(second.calls("BootNotification")) == 3)
    assert first.invalid() == [] and second.invalid() == []


async def test_a05_the_security_profile_never_goes_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with strict_peer(protocols="ocpp2.0.1") as peer, open_outbox(tmp_path / "db") as ob:
        url = f"ws://127.0.0.1:{peer.port}"
        basic = settings_for(url, version="2.0.1", security_profile=1, password=PASSWORD)
        async with running_uplink(basic, FakeSite(), ob, tmp_path, {"c1": 1}):
            await wait_for(lambda: len(peer.calls("BootNotification")) == 1)
            lower = await ask(peer, "SetNetworkProfile", _profile(1, url, securityProfile=0))
            assert lower["status"] == "Rejected"
            assert "below 1" in lower["statusInfo"]["additionalInfo"]
        connects = sum(1 for e in peer.events if e["event"] == "connect")
        seen: list[str] = []

        def logged() -> str:
            seen.append(capsys.readouterr().out)
            return "".join(seen)

        # The configuration lowered to profile 0: the station does not connect with it.
        plain = settings_for(url, version="2.0.1")
        async with running_uplink(plain, FakeSite(), ob, tmp_path, {"c1": 1}):
            await wait_for(lambda: "the security profile never goes down" in logged())
        assert sum(1 for e in peer.events if e["event"] == "connect") == connects
    assert peer.invalid() == []
    assert PASSWORD not in logged()
