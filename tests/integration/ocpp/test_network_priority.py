"""OCPP 2.0.1 B10 (migrate to a new CSMS by NetworkConfigurationPriority) and A02's new
certificate pair across an outage, with real TLS CSMSs (security profile 3, the station's client
certificate): the priority's first profile is tried first, and after
NetworkProfileConnectionAttempts failed connects the next; a newly signed pair is kept while the
CSMS cannot be reached and used once it can."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import Server

from edge_controller.sim.csms import BenchCsms
from tests import pki
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.ports import free_port

pytestmark = pytest.mark.integration


@dataclass
class Pki:
    ca: pki.Issued
    ca_file: Path
    server: ssl.SSLContext
    old: tuple[Path, Path]  # the configured client pair


def _pki(tmp_path: Path) -> Pki:
    ca = pki.root("csms-root")
    server_cert, server_key = pki.server(ca).write(tmp_path, "server")
    ca_file, _ = ca.write(tmp_path, "ca")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(server_cert, server_key)
    tls.verify_mode = ssl.CERT_REQUIRED  # the station's certificate is checked
    tls.load_verify_locations(ca_file)
    return Pki(ca, ca_file, tls, pki.client(ca, IDENTITY).write(tmp_path, "old"))


@asynccontextmanager
async def tls_csms(keys: Pki, port: int | None = None) -> AsyncIterator[tuple[BenchCsms, int]]:
    csms = BenchCsms(versions=("2.0.1",))
    server: Server = await csms.start("127.0.0.1", port or free_port(), tls=keys.server)
    try:
        yield csms, next(iter(server.sockets)).getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _settings(keys: Pki, port: int) -> Any:
    cert, key = keys.old
    return settings_for(f"wss://127.0.0.1:{port}", version="2.0.1", security_profile=3,
                        ca_file=keys.ca_file, client_cert_file=cert,
                        client_key_file=key)  # fmt: skip


def _profile(slot: int, port: int) -> dict[str, Any]:
    data = {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "messageTimeout": 5,
            "ocppCsmsUrl": f"wss://127.0.0.1:{port}", "securityProfile": 3,
            "ocppInterface": "Wired0"}  # fmt: skip
    return {"configurationSlot": slot, "connectionData": data}


def _comm(name: str, value: str) -> dict[str, Any]:
    return {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": name},
            "attributeValue": value}  # fmt: skip


async def test_b10_the_priority_picks_the_profile_and_falls_back_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = _pki(tmp_path)
    dead = free_port()  # nothing listens there: slot 1 cannot connect
    async with (
        tls_csms(keys) as (first, first_port),
        tls_csms(keys) as (second, second_port),
        open_outbox(tmp_path / "db") as outbox,
    ):
        settings = _settings(keys, first_port)
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}):
            await wait_for(lambda: IDENTITY in first.connected)
            for slot, port in ((1, dead), (2, second_port)):
                answer = await first.send(IDENTITY, "SetNetworkProfile", _profile(slot, port))
                assert answer["status"] == "Accepted"
            unknown_slot = await first.send(
                IDENTITY, "SetVariables",
                {"setVariableData": [_comm("NetworkConfigurationPriority", "1,7")]},
            )  # fmt: skip
            assert unknown_slot["setVariableResult"][0]["attributeStatus"] == "Rejected"
            data = [_comm("NetworkConfigurationPriority", "1,2"),
                    _comm("NetworkProfileConnectionAttempts", "2")]  # fmt: skip
            answer = await first.send(IDENTITY, "SetVariables", {"setVariableData": data})
            assert [r["attributeStatus"] for r in answer["setVariableResult"]] == ["Accepted"] * 2
            capsys.readouterr()
            assert (await first.send(IDENTITY, "Reset", {"type": "Immediate"}))["status"] == (
                "Accepted"
            )
            # Slot 1 twice, then slot 2: the second CSMS.
            await wait_for(lambda: "BootNotification" in second.actions())
            got = await second.send(IDENTITY, "GetVariables", {"getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"},
                 "variable": {"name": "NetworkConfigurationPriority"}}]})  # fmt: skip
    assert got["getVariableResult"][0]["attributeValue"] == "1,2"
    logged = capsys.readouterr().out
    failures = [line for line in logged.splitlines() if "CSMS connection lost" in line]
    assert len(failures) == 2  # NetworkProfileConnectionAttempts
    assert "trying the next by priority" in logged
    assert first.actions().count("BootNotification") == 1


async def test_a02_a_new_pair_is_kept_while_the_csms_cannot_be_reached(tmp_path: Path) -> None:
    keys = _pki(tmp_path)
    port = free_port()
    store = tmp_path / f"certs-{IDENTITY}"
    new = pki.client(keys.ca, IDENTITY)
    store.mkdir()
    (store / "new.pem").write_bytes(new.cert_pem())
    (store / "new.key").write_bytes(new.key_pem())
    async with open_outbox(tmp_path / "db") as outbox:
        settings = _settings(keys, port)
        async with running_uplink(settings, FakeSite(), outbox, tmp_path, {"c1": 1}) as uplink:
            await asyncio.sleep(1.0)  # several connects fail: nothing listens yet
            assert not uplink.online
            assert (store / "new.pem").exists() and not (store / "failed.pem").exists()
            async with tls_csms(keys, port) as (csms, _):
                await wait_for(lambda: "BootNotification" in csms.actions())
    assert (store / "station.pem").read_bytes() == new.cert_pem()
    assert not (store / "new.pem").exists()
