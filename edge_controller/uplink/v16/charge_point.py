"""The OCPP 1.6 charge point on one websocket: robust framing plus the CSMS-initiated handlers.

Handlers never ``await`` an OCPP call (that would block the receive loop that must deliver the
answer); work that needs a CALL is staged as a follow-up and run by a supervised task after the
handler's answer was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ocpp.exceptions import OCPPError  # type: ignore[import-untyped]
from ocpp.messages import Call, MessageType  # type: ignore[import-untyped]
from ocpp.v16 import ChargePoint  # type: ignore[import-untyped]
from ocpp.v16.enums import Action  # type: ignore[import-untyped]

from edge_controller.uplink import frames
from edge_controller.uplink.handlers.config import ConfigHandlers
from edge_controller.uplink.handlers.local_list import LocalListHandlers
from edge_controller.uplink.handlers.remote import RemoteHandlers
from edge_controller.uplink.handlers.reservation import ReservationHandlers
from edge_controller.uplink.handlers.smart import SmartHandlers
from edge_controller.uplink.link import IdentityLink
from edge_controller.uplink.ocpp_compat import OutgoingCall, check_answer
from edge_controller.uplink.v16 import validation

_KNOWN_ACTIONS = frozenset(a.value for a in Action)
PENDING_RESPONSES_MAX = 4
T = TypeVar("T")


class EdgeChargePoint(
    RemoteHandlers,
    ConfigHandlers,
    SmartHandlers,
    LocalListHandlers,
    ReservationHandlers,
    ChargePoint,  # type: ignore[misc]
):
    def __init__(self, link: IdentityLink, connection: Any) -> None:
        super().__init__(link.identity, connection, response_timeout=link.settings.call_timeout_s)
        self.link = link

    async def route_message(self, raw_msg: str | bytes) -> None:
        verdict = frames.screen(raw_msg, self.link.settings.max_frame_bytes)
        if verdict.reply is not None:
            self.link.log.warning("bad frame from CSMS answered", reply=verdict.reply[:200])
            await self._send(verdict.reply)
            return
        if verdict.drop or verdict.message is None:
            self.link.log.warning("malformed response from CSMS ignored")
            return
        message = verdict.message
        if message[0] == frames.CALL:
            await self._route_call(Call(message[1], message[2], message[3]))
        elif self._call_lock.locked() and self._response_queue.qsize() < PENDING_RESPONSES_MAX:
            await super().route_message(raw_msg)
        else:
            self.link.log.warning("response without a pending call ignored", unique_id=message[1])

    async def exchange(
        self, outgoing: OutgoingCall, meanwhile: Callable[[], Awaitable[T]]
    ) -> tuple[dict[str, Any], T]:
        """``call`` for a CALL framed and checked ahead: send it, run ``meanwhile`` while the
        CSMS works on it, then wait (``call_timeout_s``) for the answer. Returns the answer's
        payload, schema-checked, and what ``meanwhile`` returned; raises as ``call`` does: a
        CALLERROR or a bad answer as OCPPError, no answer in time as TimeoutError."""
        async with self._call_lock:  # the library's lock: one CALL in flight on this link
            await self._send(outgoing.frame)
            done = await meanwhile()
            answer = await self._get_specific_response(outgoing.unique_id, self._response_timeout)
        if answer.message_type_id == MessageType.CallError:
            raise answer.to_exception()
        await check_answer(outgoing.action, answer)
        payload: dict[str, Any] = answer.payload
        return payload, done

    async def _route_call(self, call: Call) -> None:
        try:
            if call.action not in self.route_map:
                code = "NotSupported" if call.action in _KNOWN_ACTIONS else "NotImplemented"
                await self._send(frames.call_error(call.unique_id, code, "action not handled"))
                return
            problem = validation.check_call(call.action, call.payload)
            if problem is not None:
                await self._send(frames.call_error(call.unique_id, problem[0], problem[1]))
                return
            await self._handle_call(call)
        except OCPPError as error:
            self.link.log.warning("CSMS call refused", action=call.action, code=error.code)
            description = str(error.description or error.code)
            await self._send(frames.call_error(call.unique_id, error.code, description))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.link.log.exception("handler failed", action=call.action)
            await self._send(frames.call_error(call.unique_id, "InternalError", "handler failed"))
        finally:
            self.link.release_staged()

    async def _send(self, message: str) -> None:
        if message.startswith(f"[{frames.CALLERROR},"):
            message = _fix_error_code(message)
        await self._connection.send(message)


def _fix_error_code(frame: str) -> str:
    """Rewrite a library CALLERROR so it carries a 1.6 error code."""
    import json

    parsed = json.loads(frame)
    parsed[2] = frames.code_16(str(parsed[2]))
    return json.dumps(parsed, separators=(",", ":"))
