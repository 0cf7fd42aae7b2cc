"""Malformed and hostile input from the CSMS: the right CALLERROR, and everything survives."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.ocpp.harness import FakeSite, open_outbox, running_uplink, settings_for
from tests.integration.ocpp.raw_csms import RawCsms, raw_csms

pytestmark = pytest.mark.integration

CASES = [
    ("{not json", "-1", "FormationViolation"),
    ('{"an": "object"}', "-1", "FormationViolation"),
    ('[9, "m1", "Reset", {}]', "m1", "ProtocolError"),
    ('[2, "m2", "Reset"]', "m2", "ProtocolError"),
    ('[2, "m3", "FlyToTheMoon", {}]', "m3", "NotImplemented"),
    (
        '[2, "m4", "UpdateFirmware", '
        + json.dumps({"location": "ftp://x/y", "retrieveDate": "2026-01-01T00:00:00Z"})
        + "]",
        "m4",
        "NotSupported",
    ),
    ('[2, "m5", "Reset", {"type": "Sideways"}]', "m5", "PropertyConstraintViolation"),
    (
        '[2, "m6", "ChangeAvailability", {"connectorId": "one", "type": "Operative"}]',
        "m6",
        "TypeConstraintViolation",
    ),
    (  # above the default soft limit (2 MiB), below the hard one: answered, with its id
        '[2, "m7", "GetConfiguration", ' + json.dumps({"key": ["x" * 2_200_000]}) + "]",
        "m7",
        "FormationViolation",
    ),
]


async def _check_alive(csms: RawCsms) -> None:
    reply = await csms.exchange('[2, "alive", "GetConfiguration", {"key": ["HeartbeatInterval"]}]')
    while reply[1] != "alive":  # answers to earlier frames come first
        reply = await asyncio.wait_for(csms.replies.get(), 5)
    assert reply[0] == 3
    assert reply[2]["configurationKey"][0]["key"] == "HeartbeatInterval"


async def test_bad_frames_get_the_right_callerror_and_the_link_survives(tmp_path: Path) -> None:
    async with raw_csms() as (csms, port), open_outbox(tmp_path / "db.sqlite") as outbox:
        settings_ = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings_, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await csms.ready.wait()
            for frame, unique_id, code in CASES:
                reply = await csms.exchange(frame)
                assert reply[:3] == [4, unique_id, code], frame[:60]
            stop = await csms.exchange(
                '[2, "m8", "RemoteStopTransaction", {"transactionId": 424242}]'
            )
            assert stop == [3, "m8", {"status": "Rejected"}]
            await _check_alive(csms)
            assert csms.connections == 1


frames = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.integers(-3, 6), st.text(max_size=20), st.none()), max_size=5).map(
        json.dumps
    ),
    st.tuples(
        st.sampled_from(
            [
                "Reset",
                "ChangeConfiguration",
                "TriggerMessage",
                "RemoteStartTransaction",
                "ChangeAvailability",
                "UnlockConnector",
                "GetConfiguration",
                "Bogus",
            ]
        ),
        st.dictionaries(
            st.sampled_from(["type", "key", "value", "connectorId", "idTag", "requestedMessage"]),
            st.one_of(st.integers(-5, 5), st.text(max_size=8), st.booleans()),
            max_size=3,
        ),
    ).map(lambda t: json.dumps([2, "fz", t[0], t[1]])),
)


async def test_fuzzed_frames_never_break_the_connection(tmp_path: Path) -> None:
    seen: list[str] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(frame=frames)
    def collect(frame: str) -> None:
        seen.append(frame)

    # Drawn before the link is up: drawing blocks the event loop, on a busy machine for longer
    # than the call timeout, and the BootNotification in flight would time out meanwhile.
    collect()
    async with raw_csms() as (csms, port), open_outbox(tmp_path / "db.sqlite") as outbox:
        settings_ = settings_for(f"ws://127.0.0.1:{port}")
        async with running_uplink(settings_, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await csms.ready.wait()
            for frame in seen:
                if "Reset" in frame:
                    continue  # an accepted Reset reconnects by design; checked elsewhere
                await csms.connection.send(frame)  # type: ignore[union-attr]
            await _check_alive(csms)
            assert csms.connections == 1


CASES_201 = [
    ("{not json", "-1", "RpcFrameworkError"),
    ('[9, "n1", "Heartbeat", {}]', "n1", "MessageTypeNotSupported"),
    ('[2, "n2", "RequestStopTransaction"]', "n2", "RpcFrameworkError"),
    ('[2, "n3", "FlyToTheMoon", {}]', "n3", "NotImplemented"),
    ('[2, "n4", "PublishFirmware", {}]', "n4", "NotSupported"),  # known, not handled
    ('[2, "n9", "RequestStartTransaction", {"idToken": {"idToken": "A", "type": "Central"}}]',
     "n9", "OccurenceConstraintViolation"),
    ('[2, "n5", "RequestStopTransaction", {"transactionId": 5}]', "n5", "TypeConstraintViolation"),
    ('[2, "n6", "RequestStopTransaction", {"transactionId": "1-2", "x": 1}]', "n6",
     "FormatViolation"),
    (  # above the default soft limit (2 MiB), below the hard one: answered, with its id
        '[2, "n7", "RequestStopTransaction", ' + json.dumps({"transactionId": "x" * 2_200_000})
        + "]",
        "n7",
        "FormatViolation",
    ),
]  # fmt: skip


async def test_bad_frames_on_201_get_the_201_callerror_and_the_link_survives(
    tmp_path: Path,
) -> None:
    async with raw_csms("ocpp2.0.1") as (csms, port), open_outbox(tmp_path / "db.sqlite") as outbox:
        settings_ = settings_for(f"ws://127.0.0.1:{port}", version="2.0.1")
        async with running_uplink(settings_, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await csms.ready.wait()
            for frame, unique_id, code in CASES_201:
                reply = await csms.exchange(frame)
                assert reply[:3] == [4, unique_id, code], frame[:60]
            stop = await csms.exchange(
                '[2, "n8", "RequestStopTransaction", {"transactionId": "424242-1"}]'
            )
            assert stop == [3, "n8", {"status": "Rejected"}]
            assert csms.connections == 1
