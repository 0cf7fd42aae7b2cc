"""The OCPP 2.x device model and authorization lists against the schema-strict CSMS (official
2.0.1 and 2.1 schemas both ways): GetVariables/SetVariables with every attribute type and
status, the 1.6 keys and the 2.x variables as one store that survives restarts, base and
custom reports in NotifyReport chunks, and SendLocalList/GetLocalListVersion/ClearCache on
the store 1.6's local list uses. Zero schema rejections.

Provisioning cases of OCPP 2.0.1: B05 SetVariables, B06 GetVariables, B07 GetBaseReport, B08
GetReport (a custom report); C11 and the local list (D01, D02)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.limit_schedule import Electrical
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.storage.outbox import Outbox
from edge_controller.uplink.device_model import DeviceModel, station_variables
from edge_controller.uplink.device_model.catalog import display_variables
from edge_controller.uplink.device_model.report import ITEMS_PER_REPORT
from edge_controller.uplink.ports import GridFacts, Station
from edge_controller.uplink.service import OcppUplink
from edge_controller.uplink.v201.display import MAX_MESSAGES
from edge_controller.uplink.v201.monitoring import monitored_variables
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    auth_store,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer

pytestmark = pytest.mark.integration
VERSIONS = [("2.0.1", "ocpp2.0.1"), ("2.1", "ocpp2.1")]
CHARGERS = {"c1": 1, "c2": 1}
EXPIRY = "2030-01-01T00:00:00Z"


@asynccontextmanager
async def station(
    tmp_path: Path, outbox: Outbox, version: str, protocol: str, site: Station | None = None
) -> AsyncIterator[tuple[StrictPeer, OcppUplink]]:
    """The uplink on ``version`` against a strict peer, its state kept in ``tmp_path``."""
    async with strict_peer(protocols=protocol) as peer:
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        async with running_uplink(
            settings,
            FakeSite(),
            outbox,
            tmp_path,
            CHARGERS,
            auth_lists=auth_store(outbox),
            station=site,
        ) as uplink:
            await wait_for(lambda: len(peer.calls("BootNotification")) == 1)
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            yield peer, uplink
        assert peer.invalid() == []


async def ask(peer: StrictPeer, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Send a CALL and wait for its answer."""
    return await peer.ask(IDENTITY, action, params)


def item(component: str, variable: str, **more: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"component": {"name": component}, "variable": {"name": variable}}
    if "evse" in more:
        found["component"]["evse"] = more.pop("evse")
    if "instance" in more:
        found["variable"]["instance"] = more.pop("instance")
    return found | more


async def get(peer: StrictPeer, *items: dict[str, Any]) -> list[tuple[str, str | None]]:
    result = await ask(peer, "GetVariables", {"getVariableData": list(items)})
    return [(r["attributeStatus"], r.get("attributeValue")) for r in result["getVariableResult"]]


async def set_(peer: StrictPeer, *items: dict[str, Any]) -> list[str]:
    result = await ask(peer, "SetVariables", {"setVariableData": list(items)})
    return [r["attributeStatus"] for r in result["setVariableResult"]]


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_b05_b06_get_and_set_variables_answer_every_status(
    tmp_path: Path, version: str, protocol: str
) -> None:
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        station(tmp_path, outbox, version, protocol) as (peer, _),
    ):
        heartbeat = item("OCPPCommCtrlr", "HeartbeatInterval")
        assert await set_(
            peer,
            heartbeat | {"attributeValue": "120"},
            heartbeat | {"attributeValue": "0"},  # below its minimum
            heartbeat | {"attributeValue": "ten"},  # not an integer
            item("AuthCtrlr", "LocalPreAuthorize", attributeValue="maybe"),
            item("ChargingStation", "VendorName", attributeValue="other"),  # read-only
            item("NoSuchCtrlr", "Enabled", attributeValue="true"),
            item("AuthCtrlr", "NoSuchVariable", attributeValue="true"),
            item("AuthCtrlr", "LocalPreAuthorize", attributeValue="true", attributeType="Target"),
            item("OCPPCommCtrlr", "WebSocketPingInterval", attributeValue="15"),
            item("SampledDataCtrlr", "TxUpdatedMeasurands",
                 attributeValue="Energy.Active.Import.Register,Voltage"),
            item("SampledDataCtrlr", "TxUpdatedMeasurands", attributeValue="Temperature"),
        ) == [
            "Accepted", "Rejected", "Rejected", "Rejected", "Rejected", "UnknownComponent",
            "UnknownVariable", "NotSupportedAttributeType", "RebootRequired", "Accepted",
            "Rejected",
        ]  # fmt: skip
        # The CSMS narrows the heartbeat's range: a value outside it is refused from then on.
        assert await set_(
            peer,
            heartbeat | {"attributeValue": "60", "attributeType": "MinSet"},
            heartbeat | {"attributeValue": "600", "attributeType": "MaxSet"},
            heartbeat | {"attributeValue": "30"},
            heartbeat | {"attributeValue": "50", "attributeType": "MaxSet"},  # below MinSet
            heartbeat | {"attributeValue": "90"},
        ) == ["Accepted", "Accepted", "Rejected", "Rejected", "Accepted"]
        assert await get(
            peer,
            heartbeat,
            heartbeat | {"attributeType": "MinSet"},
            heartbeat | {"attributeType": "MaxSet"},
            heartbeat | {"attributeType": "Target"},
            item("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent"),
            item("EVSE", "Available", evse={"id": 2}),
            item("EVSE", "Available", evse={"id": 3}),
            item("OCPPCommCtrlr", "WebSocketPingInterval"),
            item("SampledDataCtrlr", "TxUpdatedMeasurands"),
        ) == [
            ("Accepted", "90"), ("Accepted", "60"), ("Accepted", "600"),
            ("NotSupportedAttributeType", None), ("Accepted", "3"), ("Accepted", "true"),
            ("UnknownComponent", None), ("Accepted", "15"),
            ("Accepted", "Energy.Active.Import.Register,Voltage"),
        ]  # fmt: skip


async def test_1_6_keys_and_2_x_variables_are_one_store_across_restarts(tmp_path: Path) -> None:
    """A value set on 2.0.1 reads back on 1.6 after a restart, and the other way round (the
    heartbeat is left out: each boot's answer sets it)."""
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        async with station(tmp_path, outbox, "2.0.1", "ocpp2.0.1") as (peer, _):
            assert (
                await set_(
                    peer,
                    item("AlignedDataCtrlr", "Interval", attributeValue="600"),
                    item("AuthCtrlr", "OfflineTxForUnknownIdEnabled", attributeValue="true"),
                    item("TxCtrlr", "EVConnectionTimeOut", attributeValue="45"),
                    item(
                        "SampledDataCtrlr",
                        "TxUpdatedInterval",
                        attributeValue="100",
                        attributeType="MaxSet",
                    ),
                )
                == ["Accepted"] * 4
            )
        async with station(tmp_path, outbox, "1.6", "ocpp1.6") as (peer, _):
            keys = ["ClockAlignedDataInterval", "AllowOfflineTxForUnknownId", "ConnectionTimeOut"]
            answer = await ask(peer, "GetConfiguration", {"key": keys})
            values = {k["key"]: k["value"] for k in answer["configurationKey"]}
            assert values == dict(zip(keys, ["600", "true", "45"], strict=True))
            everything = await ask(peer, "GetConfiguration", {})
            assert all("#" not in k["key"] for k in everything["configurationKey"])
            # The 2.x MaxSet holds for the 1.6 key too.
            too_long = {"key": "MeterValueSampleInterval", "value": "101"}
            assert await ask(peer, "ChangeConfiguration", too_long) == {"status": "Rejected"}
            change = {"key": "MeterValueSampleInterval", "value": "77"}
            assert await ask(peer, "ChangeConfiguration", change) == {"status": "Accepted"}
        async with station(tmp_path, outbox, "2.0.1", "ocpp2.0.1") as (peer, _):
            assert await get(
                peer,
                item("SampledDataCtrlr", "TxUpdatedInterval"),
                item("AlignedDataCtrlr", "Interval"),
            ) == [("Accepted", "77"), ("Accepted", "600")]


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_b05_the_transaction_points_are_set_to_what_the_site_does_or_refused_with_why(
    tmp_path: Path, version: str, protocol: str
) -> None:
    """TxStartPoint/TxStopPoint take the lists meaning what the session side does (kept
    across a restart); any other is Rejected with a reason the CSMS can show."""
    start, stop = item("TxCtrlr", "TxStartPoint"), item("TxCtrlr", "TxStopPoint")
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        async with station(tmp_path, outbox, version, protocol) as (peer, _):
            answer = await ask(peer, "SetVariables", {"setVariableData": [
                stop | {"attributeValue": "PowerPathClosed"},
                start | {"attributeValue": "ParkingBayOccupancy"},
                stop | {"attributeValue": "ParkingBayOccupancy"},
                start | {"attributeValue": "PowerPathClosed"},
            ]})  # fmt: skip
            results = answer["setVariableResult"]
            assert [r["attributeStatus"] for r in results] == [
                "Accepted", "Rejected", "Rejected", "Accepted",
            ]  # fmt: skip
            assert "attributeStatusInfo" not in results[0]
            refused = results[1]["attributeStatusInfo"]
            assert refused["reasonCode"] == "UnsupportedValue"
            assert "authorised and plugged in (PowerPathClosed)" in refused["additionalInfo"]
            info = results[2]["attributeStatusInfo"]["additionalInfo"]
            assert info.startswith("ParkingBayOccupancy not supported"), info
        async with station(tmp_path, outbox, version, protocol) as (peer, _):
            assert await get(peer, start, stop) == [
                ("Accepted", "PowerPathClosed"), ("Accepted", "PowerPathClosed"),
            ]  # fmt: skip


def _reports(peer: StrictPeer, request_id: int) -> list[dict[str, Any]]:
    return [
        c["params"] for c in peer.calls("NotifyReport") if c["params"]["requestId"] == request_id
    ]


def _flat(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for r in reports for d in r["reportData"]]


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_b07_b08_reports_come_in_chunks_with_the_stored_values(
    tmp_path: Path, version: str, protocol: str
) -> None:
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        station(tmp_path, outbox, version, protocol) as (peer, uplink),
    ):
        link = uplink.links[IDENTITY]
        # The display messages' variables follow the version (QRCODE is a 2.1 format).
        formats = ("ASCII", "URI", "UTF8") + (("QRCODE",) if version == "2.1" else ())
        display = display_variables(formats, MAX_MESSAGES)
        count = next(v for v in display if v.name == "DisplayMessages")
        model = DeviceModel(
            link.config,
            station_variables(link.settings, IDENTITY, len(CHARGERS), smart=False)
            + monitored_variables(len(CHARGERS))
            + display,
            {count: lambda: "0"},  # none set
        )
        full = await ask(peer, "GetBaseReport", {"requestId": 7, "reportBase": "FullInventory"})
        assert full == {"status": "Accepted"}
        expected = len(model.variables)
        await wait_for(lambda: len(_flat(_reports(peer, 7))) == expected)
        reports = _reports(peer, 7)
        assert len(reports) == -(-expected // ITEMS_PER_REPORT) > 1
        assert [r["seqNo"] for r in reports] == list(range(len(reports)))
        assert [r["tbc"] for r in reports] == [True] * (len(reports) - 1) + [False]
        # Each value reported is the one the store holds (1.6 keys read the same).
        for data in _flat(reports):
            variable = next(
                v for v in model.variables
                if v.component == data["component"]["name"]
                and v.name == data["variable"]["name"]
                and v.instance == data["variable"].get("instance")
                and v.evse == data["component"].get("evse", {}).get("id")
            )  # fmt: skip
            actual = data["variableAttribute"][0]
            if actual["mutability"] == "WriteOnly":  # a password: named, never told
                assert "value" not in actual
                continue
            assert actual["value"] == model.value(variable)
            if variable.key is not None:
                assert actual["value"] == link.config.get(variable.key)
        heartbeat = next(d for d in _flat(reports) if d["variable"]["name"] == "HeartbeatInterval")
        assert [a["type"] for a in heartbeat["variableAttribute"]] == ["Actual", "MinSet", "MaxSet"]

        config = await ask(
            peer, "GetBaseReport", {"requestId": 8, "reportBase": "ConfigurationInventory"}
        )
        assert config == {"status": "Accepted"}
        await wait_for(lambda: any(not r["tbc"] for r in _reports(peer, 8)))
        mutabilities = {
            a["mutability"] for d in _flat(_reports(peer, 8)) for a in d["variableAttribute"]
        }
        assert mutabilities == {"ReadWrite"}

        summary = await ask(
            peer, "GetBaseReport", {"requestId": 9, "reportBase": "SummaryInventory"}
        )
        assert summary == {"status": "Accepted"}
        await wait_for(lambda: any(not r["tbc"] for r in _reports(peer, 9)))
        names = {d["component"]["name"] for d in _flat(_reports(peer, 9))}
        assert names == {"ChargingStation", "EVSE", "Connector"}

        evse_2 = {"name": "EVSE", "evse": {"id": 2}}
        wanted = [
            {"component": {"name": "AuthCtrlr"}},
            {"component": evse_2, "variable": {"name": "Available"}},
        ]
        custom = await ask(peer, "GetReport", {"requestId": 10, "componentVariable": wanted})
        assert custom == {"status": "Accepted"}
        await wait_for(lambda: len(_reports(peer, 10)) == 1)
        got = {(d["component"]["name"], d["variable"]["name"]) for d in _flat(_reports(peer, 10))}
        auth = {("AuthCtrlr", v.name) for v in model.variables if v.component == "AuthCtrlr"}
        assert got == auth | {("EVSE", "Available")}
        nothing = [{"component": {"name": "NoSuchCtrlr"}}]
        empty = await ask(peer, "GetReport", {"requestId": 11, "componentVariable": nothing})
        assert empty == {"status": "EmptyResultSet"}


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_c11_d01_d02_local_list_and_cache_on_the_1_6_store(
    tmp_path: Path, version: str, protocol: str
) -> None:
    async with open_outbox(tmp_path / "db.sqlite") as outbox:
        store = auth_store(outbox)
        await store.cache_put(AuthEntry("CACHED1", AuthStatus.ACCEPTED), 0.0)
        async with station(tmp_path, outbox, version, protocol) as (peer, _):
            assert await ask(peer, "GetLocalListVersion", {}) == {"versionNumber": 0}
            full = [
                {"idToken": {"idToken": "04a2b3c4", "type": "ISO14443"},
                 "idTokenInfo": {"status": "Accepted", "groupIdToken":
                                 {"idToken": "FLEET1", "type": "Central"}}},
                {"idToken": {"idToken": "CARD2", "type": "Local"},
                 "idTokenInfo": {"status": "Blocked", "cacheExpiryDateTime": EXPIRY}},
                {"idToken": {"idToken": "CARD9", "type": "Local"},
                 "idTokenInfo": {"status": "NoCredit"}},
            ]  # fmt: skip
            send = {"versionNumber": 3, "updateType": "Full", "localAuthorizationList": full}
            assert await ask(peer, "SendLocalList", send) == {"status": "Accepted"}
            stale = {"versionNumber": 3, "updateType": "Differential"}
            assert await ask(peer, "SendLocalList", stale) == {"status": "VersionMismatch"}
            diff = [
                {"idToken": {"idToken": "CARD2", "type": "Local"}},
                {"idToken": {"idToken": "CARD3", "type": "KeyCode"},
                 "idTokenInfo": {"status": "Accepted"}},
            ]  # fmt: skip
            send = {
                "versionNumber": 4,
                "updateType": "Differential",
                "localAuthorizationList": diff,
            }
            assert await ask(peer, "SendLocalList", send) == {"status": "Accepted"}
            assert await ask(peer, "GetLocalListVersion", {}) == {"versionNumber": 4}
            assert await ask(peer, "ClearCache", {}) == {"status": "Accepted"}
        listed = {e.id_tag: e for e in await store.local_list()}
        assert set(listed) == {"04A2B3C4", "CARD3", "CARD9"}
        assert listed["04A2B3C4"].parent_id_tag == "FLEET1"
        assert listed["CARD9"].status is AuthStatus.INVALID  # NoCredit refuses as Invalid
        assert await store.cached("CACHED1") is None
        # 1.6 sees the same list.
        async with station(tmp_path, outbox, "1.6", "ocpp1.6") as (peer, _):
            assert await ask(peer, "GetLocalListVersion", {}) == {"listVersion": 4}


async def test_site_limits_are_reported_as_configured_and_never_set(tmp_path: Path) -> None:
    grid = GridFacts(limit_a=63.0, power_limit_w=40000.0, fallback_current_a=6.0)
    site = Station(electrical=Electrical(230.0, 3), max_current_a=63.0, grid=grid)
    async with (
        open_outbox(tmp_path / "db.sqlite") as outbox,
        station(tmp_path, outbox, "2.0.1", "ocpp2.0.1", site) as (peer, _),
    ):
        assert await get(
            peer,
            item("SiteLimits", "GridLimit"),
            item("SiteLimits", "PowerLimit"),
            item("SiteLimits", "Phases"),
            item("GridMeter", "StaleAfter"),
        ) == [("Accepted", "63"), ("Accepted", "40000"), ("Accepted", "3"), ("Accepted", "10")]
        # Safety: the CSMS limits the site with charging profiles, never by raising its limit.
        assert await set_(peer, item("SiteLimits", "GridLimit", attributeValue="100")) == [
            "Rejected"
        ]
        assert await get(peer, item("SiteLimits", "GridLimit")) == [("Accepted", "63")]
        await ask(peer, "GetReport", {"requestId": 3, "componentVariable": [
            {"component": {"name": "SiteLimits"}}]})  # fmt: skip
        await wait_for(lambda: len(_reports(peer, 3)) == 1)
        units = {d["variable"]["name"]: d["variableCharacteristics"].get("unit")
                 for d in _flat(_reports(peer, 3))}  # fmt: skip
        assert units["GridLimit"] == "A" and units["PowerLimit"] == "W"
