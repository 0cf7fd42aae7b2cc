"""A bench CSMS (OCPP 1.6J, 2.0.1 and 2.1) for commissioning and tests, without the cloud.

It serves every version a charge point offers (the charge point's first choice wins, among
``versions``); the 2.x side is ``sim.csms_v201``.

It accepts every charge point (or answers Boot with a chosen status), records transactions in
memory and, optionally, every CALL received as a JSON line in a log file (identity, action,
payload, uniqueId: a repeated CALL shows as the same line again), and can send commands to a
connected charge point through a small HTTP interface on the same port (loopback use only)::

    GET /state                         -> {"connected": [...], "transactions": {...}, "calls": n}
    GET /stats                         -> {"connected": n, "calls": n, "frames_out": n}: cheap
                                          at any size (benchmarks poll it)
    GET /send?identity=CP1&action=RemoteStartTransaction&payload={"idTag":"AB12"}
                                       -> the charge point's answer as JSON (502 on CALLERROR)

Everything else on the port is the websocket endpoint ``ws://host:port/<identity>``.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import itertools
import json
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

from ocpp import messages  # type: ignore[import-untyped]
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case  # type: ignore[import-untyped]
from ocpp.exceptions import InternalError, OCPPError  # type: ignore[import-untyped]
from ocpp.routing import on as _on  # type: ignore[import-untyped]
from ocpp.v16 import ChargePoint, call, call_result  # type: ignore[import-untyped]
from ocpp.v16.enums import Action  # type: ignore[import-untyped]
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from edge_controller.log import get_logger
from edge_controller.sim import web_pay
from edge_controller.sim.binding import check_bind
from edge_controller.uplink.clock import to_iso

_log = get_logger("bench_csms")
# Payloads are small; checking them inline is cheaper than a hand-off to a worker thread per
# message (the library's documented switch), and keeps the bench CSMS's round trip short.
messages.ASYNC_VALIDATION = False
F = TypeVar("F", bound=Callable[..., Any])
VERSIONS = ("1.6", "2.0.1", "2.1")


def on(action: str) -> Callable[[F], F]:
    """``ocpp.routing.on`` with a type mypy can follow."""
    decorator: Callable[[F], F] = _on(action)
    return decorator


@dataclass
class CsmsBehaviour:
    """How the bench CSMS answers; counters are per action and count down per message."""

    boot_status: str = "Accepted"
    boot_interval_s: int = 300
    call_errors: dict[str, int] = field(default_factory=dict)
    silent: dict[str, int] = field(default_factory=dict)
    auth_status: str = "Accepted"
    answer_delay_s: float = 0.0  # simulates a distant CSMS (network round trip)


@dataclass
class CsmsRecord:
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    unique_ids: list[str | None] = field(default_factory=list)  # of each call, in order
    # 1.6: by the CSMS's number; 2.x: by the station's transactionId (the same fields)
    transactions: dict[int | str, dict[str, Any]] = field(default_factory=dict)
    unknown_transaction_ids: list[int | str] = field(default_factory=list)
    frames_out: int = 0  # CALLRESULTs, CALLERRORs and CALLs sent to charge points


class Behaving:
    """Notes each CALL and answers it as ``CsmsBehaviour`` says (any version's handler)."""

    csms: BenchCsms
    connection: ServerConnection
    id: str
    requests: Any  # the version's request classes (``ocpp.v16.call``...)

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Note each CALL and answer it as ``CsmsBehaviour`` says, before the library routes
        it to its handler."""
        try:
            message = messages.unpack(raw_msg)
        except OCPPError:
            message = None  # the library logs and drops it
        if isinstance(message, messages.Call) and not await self.behave(message):
            return
        await super().route_message(raw_msg)  # type: ignore[misc]

    async def behave(self, msg: Any) -> bool:
        """False: the CALL is dealt with here (left unanswered or answered with an error)."""
        version = (self.connection.subprotocol or "ocpp1.6").removeprefix("ocpp")
        self.csms.note(self.id, msg.action, msg.payload, msg.unique_id, version)
        behaviour = self.csms.behaviour
        if behaviour.answer_delay_s > 0:
            await asyncio.sleep(behaviour.answer_delay_s)
        if behaviour.silent.get(msg.action, 0) > 0:
            behaviour.silent[msg.action] -= 1
            return False
        self.csms.record.frames_out += 1  # an answer or an error goes back either way
        if behaviour.call_errors.get(msg.action, 0) > 0:
            behaviour.call_errors[msg.action] -= 1
            error = InternalError(description="bench CSMS told to fail")
            await self.connection.send(msg.create_call_error(error).to_json())
            return False
        return True


class BenchChargePointHandler(Behaving, ChargePoint):  # type: ignore[misc]
    """The CSMS side of one OCPP 1.6 charge point connection."""

    requests = call

    def __init__(self, identity: str, connection: ServerConnection, csms: BenchCsms) -> None:
        super().__init__(identity, connection, response_timeout=30)
        self.csms = csms
        self.connection = connection

    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> Any:
        b = self.csms.behaviour
        return call_result.BootNotification(
            current_time=self.csms.now_iso(), interval=b.boot_interval_s, status=b.boot_status
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=self.csms.now_iso())

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> Any:
        return call_result.Authorize(id_tag_info={"status": self.csms.behaviour.auth_status})

    @on(Action.start_transaction)
    def on_start(self, connector_id: int, id_tag: str, meter_start: int, **rest: Any) -> Any:
        tx_id = next(self.csms.ids)
        self.csms.record.transactions[tx_id] = {
            "identity": self.id,
            "connectorId": connector_id,
            "idTag": id_tag,
            "meterStart": meter_start,
            "meterValues": [],
            "stop": None,
            "timestamp": rest.get("timestamp"),
        }
        return call_result.StartTransaction(
            transaction_id=tx_id, id_tag_info={"status": "Accepted"}
        )

    @on(Action.stop_transaction)
    def on_stop(self, transaction_id: int, meter_stop: int, **rest: Any) -> Any:
        tx = self.csms.record.transactions.get(transaction_id)
        if tx is None:
            self.csms.record.unknown_transaction_ids.append(transaction_id)
        else:
            tx["stop"] = {"meterStop": meter_stop, "reason": rest.get("reason")}
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list[Any], **rest: Any) -> Any:
        tx_id = rest.get("transaction_id")
        tx = self.csms.record.transactions.get(tx_id) if tx_id is not None else None
        if tx is not None:
            tx["meterValues"].extend(snake_to_camel_case(meter_value))
        elif tx_id is not None:
            self.csms.record.unknown_transaction_ids.append(tx_id)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, **_: Any) -> Any:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **_: Any) -> Any:
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event(self, **_: Any) -> Any:
        return call_result.SecurityEventNotification()


class BenchCsms:
    def __init__(
        self,
        behaviour: CsmsBehaviour | None = None,
        *,
        log_path: Path | None = None,
        now_s: Callable[[], float] | None = None,
        versions: tuple[str, ...] = VERSIONS,
    ) -> None:
        """``versions``: the OCPP versions served (subprotocols without the "ocpp")."""
        import time

        self.behaviour = behaviour or CsmsBehaviour()
        self.record = CsmsRecord()
        self.ids = itertools.count(1)
        self.connected: dict[str, Behaving] = {}
        self.versions = versions
        self.received = asyncio.Condition()
        self._log_path = log_path
        self._now_s = now_s or time.time
        self._password: str | None = None

    def now_iso(self) -> str:
        return to_iso(self._now_s())

    def note(
        self,
        identity: str,
        action: str,
        payload: dict[str, Any],
        unique_id: str | None = None,
        version: str | None = None,
    ) -> None:
        """Keep a CALL the charge point sent; ``version``: the OCPP version it came on (logged
        with it, so a log shows which version a site spoke)."""
        self.record.calls.append((identity, action, payload))
        self.record.unique_ids.append(unique_id)
        if self._log_path is not None:
            line: dict[str, Any] = {"identity": identity, "action": action, "payload": payload}
            if unique_id is not None:
                line["uniqueId"] = unique_id
            if version is not None:
                line["ocpp"] = version
            with self._log_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line))
                handle.write("\n")

    def actions(self, identity: str | None = None) -> list[str]:
        return [a for i, a, _ in self.record.calls if identity in (None, i)]

    async def send(self, identity: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CSMS→CP command; the CP's answer as a camelCase dict (raises on CALLERROR)."""
        handler = self.connected[identity]
        request = getattr(handler.requests, action)(**camel_to_snake_case(payload))
        self.record.frames_out += 1
        result = await handler.call(request, suppress=False)  # type: ignore[attr-defined]
        answer: dict[str, Any] = snake_to_camel_case(
            {k: v for k, v in vars(result).items() if v is not None}
        )
        return answer

    async def _on_connection(self, connection: ServerConnection) -> None:
        identity = (connection.request.path if connection.request else "/").strip("/")
        handler = _handler_class(connection.subprotocol)(identity or "unknown", connection, self)
        self.connected[handler.id] = handler
        try:
            await handler.start()  # type: ignore[attr-defined]
        except ConnectionClosed:
            pass  # a charge point going away is normal on a bench
        except Exception as exc:
            # The bench keeps serving other charge points, but its own faults are shown.
            _log.warning("charge point handler failed", identity=handler.id, error=repr(exc))
        finally:
            if self.connected.get(handler.id) is handler:
                del self.connected[handler.id]

    def set_password(self, password: str | None) -> None:
        """The key charge points must present from their next connection (None: none)."""
        self._password = password

    def _authorized(self, request: Request) -> bool:
        if self._password is None:
            return True
        identity = request.path.strip("/").split("?")[0]
        token = base64.b64encode(f"{identity}:{self._password}".encode()).decode()
        return hmac.compare_digest(request.headers.get("Authorization", ""), f"Basic {token}")

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if self._authorized(request):
                return None
            return _json(HTTPStatus.UNAUTHORIZED, {"error": "bad credentials"})
        url = urlparse(request.path)
        try:
            if url.path == "/state":
                return _json(HTTPStatus.OK, self.state())
            if url.path == "/stats":
                return _json(HTTPStatus.OK, self.stats())
            if url.path.startswith("/pay/"):
                return await self._payment_page(url.path, parse_qs(url.query))
            if url.path == "/send":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                payload = json.loads(query.get("payload", "{}"))
                answer = await self.send(query["identity"], query["action"], payload)
                return _json(HTTPStatus.OK, answer)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            return _json(HTTPStatus.BAD_REQUEST, {"error": repr(exc)})
        except (OCPPError, TimeoutError) as exc:
            return _json(HTTPStatus.BAD_GATEWAY, {"error": repr(exc)})
        return _json(HTTPStatus.NOT_FOUND, {"error": "unknown path"})

    async def _payment_page(self, path: str, query: dict[str, list[str]]) -> Response:
        """``/pay/<identity>/<evse>`` and ``.../confirm`` (``sim.web_pay``)."""
        parts = path.strip("/").split("/")
        if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "confirm"):
            return _json(HTTPStatus.NOT_FOUND, {"error": "unknown path"})
        identity, evse = parts[1], int(parts[2])
        if len(parts) == 4:
            status, html = await web_pay.confirm(self, identity, evse)
        else:
            status, html = await web_pay.page(self, identity, evse, query.get("n", [""])[0])
        body = html.encode()
        headers = Headers(
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return Response(status.value, status.phrase, headers, body)

    def state(self) -> dict[str, Any]:
        return {
            "connected": sorted(self.connected),
            "transactions": {str(k): v for k, v in self.record.transactions.items()},
            "calls": len(self.record.calls),
        }

    def stats(self) -> dict[str, int]:
        """Counts only: /state carries every transaction and grows with the run."""
        record = self.record
        calls = len(record.calls)
        return {"connected": len(self.connected), "calls": calls, "frames_out": record.frames_out}

    async def start(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        password: str | None = None,
    ) -> Server:
        """Listen; ``password`` demands HTTP Basic (security profiles 1 and 2)."""
        self._password = password
        return await serve(
            self._on_connection,
            host,
            port,
            subprotocols=[f"ocpp{v}" for v in self.versions],  # type: ignore[misc]
            select_subprotocol=_first_offered,
            process_request=self._process_request,
            max_size=2**22,
            ssl=tls,
        )


def _first_offered(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """The charge point's first choice among the versions served (it lists its preference);
    a charge point that offers none speaks 1.6."""
    served = connection.protocol.available_subprotocols or []
    found = next((s for s in offered if s in served), None)
    if found is None and offered:
        raise NegotiationError(f"none of {list(offered)} is served")
    return found


def _handler_class(
    subprotocol: str | None,
) -> Callable[[str, ServerConnection, BenchCsms], Behaving]:
    # Imported here: the 2.x side builds on this module's classes.
    from edge_controller.sim.csms_v201 import Bench21Handler, Bench201Handler

    if subprotocol == "ocpp2.0.1":
        return Bench201Handler
    if subprotocol == "ocpp2.1":
        return Bench21Handler
    return BenchChargePointHandler


def _json(status: HTTPStatus, body: Any) -> Response:
    data = json.dumps(body).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return Response(status.value, status.phrase, headers, data)


async def serve_csms(
    host: str,
    port: int,
    *,
    behaviour: CsmsBehaviour | None = None,
    log_path: Path | None = None,
    allow_remote: bool = False,
    versions: tuple[str, ...] = VERSIONS,
) -> None:
    """Run the bench CSMS until cancelled; beyond loopback only with ``allow_remote``."""
    check_bind(host, "the bench CSMS", allow_remote)
    server = await BenchCsms(behaviour, log_path=log_path, versions=versions).start(host, port)
    async with server:
        await server.serve_forever()
