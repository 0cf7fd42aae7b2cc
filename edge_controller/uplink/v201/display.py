"""OCPP 2.x display messages (block O): SetDisplayMessage, GetDisplayMessages (answered at once,
the NotifyDisplayMessages sent in parts after the answer) and ClearDisplayMessage.

The messages of an identity are kept in its state file (a restart keeps them) as the CSMS sent
them, with their times on the site's clock, and handed to the site's display board, which the
display page and MQTT read. A message bound to a transaction, or past its end, is removed by
``look`` (each second) once it is over, whether or not the CSMS is connected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from edge_controller.domain.display_messages import (
    SUPPORTED_FORMATS,
    SUPPORTED_STATES,
    DisplayMessage,
    MessageFormat,
    MessageState,
    Priority,
    ended,
)
from edge_controller.uplink.clock import from_iso
from edge_controller.uplink.link import IdentityCore
from edge_controller.uplink.ports import DisplayBoard
from edge_controller.uplink.rpc import on
from edge_controller.uplink.topology import UnknownConnector
from edge_controller.uplink.v16 import config_keys

if TYPE_CHECKING:
    from edge_controller.uplink.v201.variables import Call

MAX_MESSAGES = 32  # kept at once per station; a new one beyond is Rejected
PER_NOTIFY = 8  # messageInfo items in one NotifyDisplayMessages
REPORTS_WAITING = 4
ACCEPTED, REJECTED, UNKNOWN = "Accepted", "Rejected", "Unknown"


class DisplayMessages201:
    """The display messages of one identity, served on each of its 2.x connections."""

    def __init__(self, core: IdentityCore, board: DisplayBoard | None) -> None:
        self.core, self._board = core, board
        self._log = core.log
        self._records = {int(r["info"]["id"]): r for r in core.config.display_messages()}
        self._staged: list[list[dict[str, Any]]] = []
        # Made when a 2.x connection first serves reports: a 1.6 identity never needs one.
        self._queue: asyncio.Queue[list[dict[str, Any]]] | None = None
        self._template: str | None = None
        self._publish()
        self.follow_template()

    def count(self) -> int:
        return len(self._records)

    def messages(self) -> list[DisplayMessage]:
        return [self._message(r) for r in self._records.values()]

    def _message(self, record: dict[str, Any]) -> DisplayMessage:
        info = record["info"]
        content = info["message"]
        state = info.get("state")
        return DisplayMessage(
            message_id=int(info["id"]), station=self.core.identity,
            priority=Priority(info["priority"]), content=str(content["content"]),
            format=MessageFormat(content["format"]), language=content.get("language"),
            state=None if state is None else MessageState(state),
            start_s=record.get("start_s"), end_s=record.get("end_s"),
            connectors=tuple(record["connectors"]), evse_id=_evse_of(info),
            transaction_id=info.get("transactionId"), session_id=record.get("session_id"),
            seq=int(record["seq"]),
            translations=tuple(
                (str(extra["language"]), str(extra["content"]))
                for extra in info.get("messageExtra", []) if "language" in extra
            ),
        )  # fmt: skip

    def _publish(self) -> None:
        if self._board is not None:
            self._board.replace(self.core.identity, self.messages())

    def _save(self) -> None:
        self.core.config.set_display_messages(list(self._records.values()))
        self._publish()

    @on("SetDisplayMessage")
    async def on_set(self, payload: dict[str, Any]) -> dict[str, Any]:
        info = payload["message"]
        status, record = self._checked(info)
        if record is not None:
            self._records[int(info["id"])] = record
            self._save()
            self._log.info(
                "display message set", message_id=info["id"], connectors=record["connectors"]
            )
        else:
            self._log.info("display message refused", message_id=info["id"], status=status)
        return {"status": status}

    def _checked(self, info: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """The SetDisplayMessage status, and the record to keep when Accepted."""
        if info["message"]["format"] not in SUPPORTED_FORMATS:
            return "NotSupportedMessageFormat", None
        if info["priority"] not in set(Priority):
            return "NotSupportedPriority", None
        if info.get("state") is not None and info["state"] not in SUPPORTED_STATES:
            return "NotSupportedState", None
        if int(info["id"]) not in self._records and len(self._records) >= MAX_MESSAGES:
            return REJECTED, None
        where = self._where(info)
        if where is None:
            return "UnknownTransaction" if "transactionId" in info else REJECTED, None
        connectors, session_id = where
        offset_s = self.core.clock.offset_s
        start = info.get("startDateTime")
        end = info.get("endDateTime")
        start_s = None if start is None else from_iso(start) - offset_s
        end_s = None if end is None else from_iso(end) - offset_s
        if start_s is not None and end_s is not None and end_s <= start_s:
            return REJECTED, None
        seq = 1 + max((int(r["seq"]) for r in self._records.values()), default=0)
        record = {"info": info, "connectors": connectors, "session_id": session_id,
                  "start_s": start_s, "end_s": end_s, "seq": seq}  # fmt: skip
        return ACCEPTED, record

    def _where(self, info: dict[str, Any]) -> tuple[list[str], str | None] | None:
        """The connectors a message covers and the session it is bound to (None: an EVSE or
        transaction this station does not have)."""
        mine = list(self.core.topology.connectors(self.core.identity))
        evse_id = _evse_of(info)
        if "transactionId" in info:
            # Imported here: every identity keeps its messages, a 1.6 one without 2.x's code.
            from edge_controller.uplink.v201.render import session_of

            wanted = session_of(str(info["transactionId"]))
            views = self.core.status.connectors_of(mine)
            running = [v for v in views if wanted is not None and v.session_id == str(wanted)]
            if not running:
                return None
            return [running[0].connector_id], str(wanted)
        if evse_id is None:
            return mine, None
        try:
            return [self.core.topology.connector_id(self.core.identity, evse_id)], None
        except UnknownConnector:
            return None

    @on("ClearDisplayMessage")
    async def on_clear(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._records.pop(int(payload["id"]), None) is None:
            return {"status": UNKNOWN}
        self._save()
        self._log.info("display message cleared", message_id=payload["id"])
        return {"status": ACCEPTED}

    @on("GetDisplayMessages")
    async def on_get(self, payload: dict[str, Any]) -> dict[str, Any]:
        found = [r["info"] for r in sorted(self._records.values(), key=lambda r: r["seq"])
                 if _wanted(r["info"], payload)]  # fmt: skip
        if not found or self._reports.full():
            return {"status": UNKNOWN}
        request_id = int(payload["requestId"])
        parts = [found[i : i + PER_NOTIFY] for i in range(0, len(found), PER_NOTIFY)]
        self._staged.append(
            [
                {"requestId": request_id, "messageInfo": part, "tbc": n < len(parts) - 1}
                for n, part in enumerate(parts)
            ]
        )
        return {"status": ACCEPTED}

    def release(self) -> None:
        """The answer is out: the reports it accepted may go."""
        for parts in self._staged:
            self._reports.put_nowait(parts)  # bounded by the check in ``on_get``
        self._staged.clear()

    async def send_reports(self, call: Call) -> None:
        while True:
            for part in await self._reports.get():
                await call("NotifyDisplayMessages", part)

    @property
    def _reports(self) -> asyncio.Queue[list[dict[str, Any]]]:
        if self._queue is None:
            self._queue = asyncio.Queue(REPORTS_WAITING)
        return self._queue

    def remove_ended(self) -> list[int]:
        """Remove the messages that are over (past their end, or their session gone)."""
        messages = self.messages()
        if not messages:
            return []
        views = self.core.status.connectors_of(self.core.topology.connectors(self.core.identity))
        gone = ended(messages, views, self.core.now_s())
        for message_id in gone:
            del self._records[message_id]
        if gone:
            self._save()
            self._log.info("display messages ended", message_ids=gone)
        return gone

    def follow_template(self) -> None:
        """Hand the payment URL template a 1.6 CSMS set (ChangeConfiguration) to the board."""
        template = self.core.config.get(config_keys.WEB_PAYMENT_URL) or None
        if template != self._template and self._board is not None:
            self._board.set_template(self.core.identity, template)
        self._template = template

    def look(self) -> None:
        """Each second, whether or not the CSMS is connected (``OcppUplink``)."""
        self.remove_ended()
        self.follow_template()


def _evse_of(info: dict[str, Any]) -> int | None:
    display = info.get("display")
    evse = display.get("evse") if isinstance(display, dict) else None
    return int(evse["id"]) if isinstance(evse, dict) else None


def _wanted(info: dict[str, Any], query: dict[str, Any]) -> bool:
    ids: Sequence[int] | None = query.get("id")
    tests: list[Callable[[], bool]] = [
        lambda: not ids or int(info["id"]) in ids,
        lambda: "priority" not in query or info["priority"] == query["priority"],
        lambda: "state" not in query or info.get("state") == query["state"],
    ]
    return all(test() for test in tests)
