"""OCPP 2.x device model: NotifyReport of the full device model (FullInventory), bytes and time,
next to 1.6's whole GetConfiguration answer in the same run.

``build_ms``: CPU time to read every value from the store, build the reportData, cut it into
NotifyReports and frame and schema-check each one (``RpcEndpoint.prepare``), the station's work
per report. ``send_ms``: wall time to send the whole report over a local websocket, one CALL in
flight, to a peer in this process that answers each at once (its share is in the figure). The
1.6 row is GetConfiguration without keys: every key built and schema-checked as an answer.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from edge_controller.config.settings import OcppSettings
from edge_controller.uplink.device_model import DeviceModel, bound_defaults, station_variables
from edge_controller.uplink.device_model.report import base_report, chunks
from edge_controller.uplink.dialect import OCPP16, OCPP201
from edge_controller.uplink.rpc import Limits, RpcEndpoint, dumps
from edge_controller.uplink.schemas import schemas_for
from edge_controller.uplink.state_file import OcppStateFile
from edge_controller.uplink.v16 import config_keys
from edge_controller.uplink.v201.monitoring import monitored_variables

EVSES = (2, 24, 100)
ROUNDS = 20
SETTINGS = OcppSettings()


def _model(work: Path, evses: int) -> DeviceModel:
    # The station's own variables and those monitoring watches, as a 2.x station reports them.
    variables = station_variables(SETTINGS, "site1", evses, smart=True)
    variables += monitored_variables(evses)
    defaults = config_keys.defaults(SETTINGS, evses) | bound_defaults(variables)
    return DeviceModel(OcppStateFile(work / f"{evses}.json", defaults), variables)


def _reports(model: DeviceModel, endpoint: RpcEndpoint) -> list[str]:
    data = base_report(model, "FullInventory")
    parts = chunks(1, "2026-01-01T00:00:00Z", data)
    return [endpoint.prepare("NotifyReport", part).frame for part in parts]


def _configuration(store: OcppStateFile) -> str:
    keys = [
        {"key": k, "readonly": config_keys.SPECS[k].readonly, "value": v}
        for k, v in store.items().items()
        if k in config_keys.SPECS
    ]
    answer = {"configurationKey": keys}
    problem = schemas_for(OCPP16).response_problem("GetConfiguration", answer)
    assert problem is None, problem
    return dumps([3, "x", answer])


async def _answer_all(connection: ServerConnection) -> None:
    async for raw in connection:
        await connection.send(json.dumps([3, json.loads(raw)[1], {}]))


async def _row(work: Path, evses: int) -> dict[str, Any]:
    model = _model(work, evses)
    server = await serve(_answer_all, "127.0.0.1", 0, subprotocols=[OCPP201.subprotocol])  # type: ignore[list-item]
    port = next(iter(server.sockets)).getsockname()[1]
    try:
        async with connect(f"ws://127.0.0.1:{port}", subprotocols=[OCPP201.subprotocol]) as ws:  # type: ignore[list-item]
            endpoint = RpcEndpoint(ws, {}, Limits(10.0, 2_097_152))
            reader = asyncio.create_task(endpoint.run())
            started = time.process_time()
            for _ in range(ROUNDS):
                frames = _reports(model, endpoint)
            build_ms = (time.process_time() - started) * 1000 / ROUNDS
            sent = time.perf_counter()
            for _ in range(ROUNDS):
                for part in chunks(1, "2026-01-01T00:00:00Z", base_report(model, "FullInventory")):
                    await endpoint.call("NotifyReport", part)
            send_ms = (time.perf_counter() - sent) * 1000 / ROUNDS
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    finally:
        server.close()
        await server.wait_closed()
    started = time.process_time()
    for _ in range(ROUNDS):
        text = _configuration(model.store)
    config_ms = (time.process_time() - started) * 1000 / ROUNDS
    return {
        "case": f"FullInventory, {evses} EVSEs",
        "variables": len(model.variables),
        "messages": len(frames),
        "bytes": sum(len(f.encode()) for f in frames),
        "build_ms": round(build_ms, 2),
        "build_us_per_message": round(build_ms * 1000 / len(frames), 1),
        "send_ms": round(send_ms, 2),
        "v16_get_configuration_bytes": len(text.encode()),
        "v16_get_configuration_ms": round(config_ms, 2),
    }


async def _rows() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as work:
        return [await _row(Path(work), evses) for evses in EVSES]


def run() -> list[dict[str, Any]]:
    return asyncio.run(_rows())
