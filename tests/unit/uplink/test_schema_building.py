"""The compiled schema checks are built off the event loop: a connection asks for those of its
version's routine CALLs as it starts, each check is built once, and until one is built the
official validator alone decides, as the built check does."""

from __future__ import annotations

from typing import Any

import pytest

from edge_controller.uplink import schemas as schemas_module
from edge_controller.uplink.dialect import OCPP16, OCPP21, Fault
from edge_controller.uplink.rpc import Limits, RpcEndpoint
from edge_controller.uplink.schemas import ROUTINE, Schemas


class _Opened:
    """A connection as the handshake leaves it: nothing read or sent yet."""

    subprotocol = "ocpp2.1"

    async def recv(self) -> str:
        raise AssertionError("nothing is read before the first call")

    async def send(self, message: str) -> None:
        raise AssertionError("nothing is sent before the first call")


def _started(reading_wh: Any) -> dict[str, Any]:
    sample = {"value": reading_wh, "measurand": "Energy.Active.Import.Register"}
    return {
        "eventType": "Started",
        "timestamp": "2026-12-04T21:00:00Z",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-1"},
        "meterValue": [{"timestamp": "2026-12-04T21:00:00Z", "sampledValue": [sample]}],
    }


def test_a_new_connection_has_its_routine_checks_built_before_the_first_call() -> None:
    endpoint = RpcEndpoint(_Opened(), {}, Limits(30.0, 65536))
    for action in ROUTINE["2.1"]:
        for side in ("request", "response"):
            assert endpoint.schemas.building(action, side) is not None, (action, side)
    building = endpoint.schemas.building("TransactionEvent", "request")
    assert building is not None
    check = building.result()  # waits for the builder, off this thread's loop
    assert check is not None and check.quick is not None
    payload = _started(1234.5)
    assert check.quick(payload) is payload  # taken by the compiled check itself
    assert endpoint.schemas.request_problem("TransactionEvent", payload) is None
    problem = endpoint.schemas.request_problem("TransactionEvent", _started("1234.5"))
    assert problem is not None and problem.fault is Fault.TYPE
    assert "meterValue/0/sampledValue/0/value" in problem.description


def test_a_check_is_built_once_and_decides_as_the_official_validator_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[str] = []
    compiled = schemas_module._BUILDER.compiled

    def counted(text: str) -> Any:
        built.append(text)
        return compiled(text)

    monkeypatch.setattr(schemas_module._BUILDER, "compiled", counted)
    schemas = Schemas(OCPP16)  # one of its own: nothing asked for yet
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
        },
    }
    good = {"connectorId": 1, "csChargingProfiles": profile}
    off = {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.45}]}
    bad = {"connectorId": 1, "csChargingProfiles": profile | {"chargingSchedule": off}}
    assert schemas.building("SetChargingProfile", "request") is None
    # The first checks: the official validator decides (or the built check, if it is done).
    first = [schemas.request_problem("SetChargingProfile", p) for p in (good, bad)]
    building = schemas.building("SetChargingProfile", "request")
    assert building is not None and schemas.ask("SetChargingProfile", "request") is building
    check = building.result()
    assert check is not None and check.quick is not None
    again = [schemas.request_problem("SetChargingProfile", p) for p in (good, bad)]
    assert first == again
    assert again[0] is None
    assert again[1] is not None and again[1].fault is Fault.PROPERTY
    assert "chargingSchedulePeriod/0/limit" in again[1].description  # not a multiple of 0.1
    # Asked at each check, built once (the builder serves every Schemas: count this one's).
    assert sum('"csChargingProfiles"' in text for text in built) == 1
    assert schemas.ask("NoSuchAction", "request") is None
    assert schemas.request_problem("NoSuchAction", {}) is not None


def test_the_shared_schemas_of_a_version_ask_for_each_check_once() -> None:
    endpoints = [RpcEndpoint(_Opened(), {}, Limits(30.0, 65536)) for _ in range(2)]
    assert endpoints[0].schemas is endpoints[1].schemas
    first = endpoints[0].schemas.building("BootNotification", "response")
    assert first is not None and endpoints[1].schemas.ask("BootNotification", "response") is first
    assert endpoints[0].dialect is OCPP21
