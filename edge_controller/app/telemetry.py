"""Feeds the MQTT publisher from the site's snapshots and session events."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from edge_controller.app.views import ChangedViews, SiteViews
from edge_controller.domain import display_messages
from edge_controller.domain.display_messages import DisplayMessage, shown_for_site
from edge_controller.domain.pricing import Currency, Money
from edge_controller.domain.snapshot import SiteView
from edge_controller.domain.web_payment import QrCodes, live_hold
from edge_controller.services.display_board import MessageBoard
from edge_controller.services.sessions.events import SessionEvent
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.storage.sessions_store import PricedCost
from edge_controller.telemetry import MqttService, SessionNotice
from edge_controller.telemetry.payloads import payment_payload


def cost_json(cost: PricedCost) -> dict[str, Any]:
    """A final cost as the session events show it (amounts as decimal strings)."""
    currency = Currency.of(cost.currency)
    return {
        "currency": cost.currency,
        "excl_tax": str(Money.of_minor(cost.total_excl_tax_minor, currency).amount),
        "incl_tax": str(Money.of_minor(cost.total_incl_tax_minor, currency).amount),
        "tariff_id": cost.breakdown.get("tariff_id"),
        "tariff_version": cost.breakdown.get("tariff_version"),
    }


class MessageFeed:
    """Publishes the display messages shown at each connector and for the whole site, when
    what is shown changes (a message set or cleared, its window opening or closing, its
    connector's state changing)."""

    def __init__(self, mqtt: MqttService, board: MessageBoard, qr: QrCodes) -> None:
        self._mqtt, self._board, self._qr = mqtt, board, qr
        self._last: dict[str | None, tuple[DisplayMessage, ...]] = {}
        self._last_payment: dict[str, dict[str, Any]] = {}

    def publish(self, view: SiteView) -> None:
        messages, now_s = self._board.messages(), time.time()
        shown: dict[str | None, tuple[DisplayMessage, ...]] = {
            None: shown_for_site(messages, view.connectors, now_s)
        }
        for connector in view.connectors:
            shown[connector.connector_id] = display_messages.shown(messages, connector, now_s)
        for where, found in shown.items():
            if self._last.get(where) != found:
                self._mqtt.publish_messages(where, found)
                self._last[where] = found
        templates, holds = self._board.templates(), self._board.holds()
        for connector in view.connectors:
            cid = connector.connector_id
            code = self._qr.code(cid, shown[cid], templates)
            payment = payment_payload(code, live_hold(connector, holds, now_s))
            if self._last_payment.get(cid) != payment:
                self._mqtt.publish_payment(cid, payment)
                self._last_payment[cid] = payment


class MqttFeed:
    """Feeds the MQTT publisher: every new site snapshot and every recorded session event.
    Of a snapshot's connectors, only those whose state may have changed are joined with the
    session side and published (``ChangedViews``)."""

    def __init__(self, mqtt: MqttService, views: SiteViews, sessions: SessionManager,
                 messages: MessageFeed | None,
                 clock: Callable[[], float] | None = None) -> None:  # fmt: skip
        self._mqtt, self._views, self._sessions = mqtt, views, sessions
        self._messages = messages
        # The latest joined views only for the display messages (about 0.26 MB at 1,000).
        self._changed = ChangedViews(sessions, clock, keep=messages is not None)

    def step(self, snapshot: SiteView) -> None:
        """Publish what a control-loop snapshot changed."""
        mqtt = self._mqtt
        mqtt.publish_site_only(self._views.compose(snapshot, joined=False))
        for connector in self._changed.changed(snapshot, mqtt.energy_due):
            mqtt.publish_connector(connector)
        if self._messages is not None:
            # Its fields (status, session, fault, reservation) are among those a view is
            # joined again for: the latest joined views say what the snapshot's would.
            latest = self._changed.latest
            connectors = tuple(latest[c.connector_id] for c in snapshot.connectors)
            self._messages.publish(dataclasses.replace(snapshot, connectors=connectors))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._snapshots())
            group.create_task(self._events())

    async def _snapshots(self) -> None:
        while True:
            self.step(await self._views.next_snapshot())

    async def _events(self) -> None:
        queue = self._sessions.events.subscribe(maxsize=256)
        while True:
            event: SessionEvent = await queue.get()
            self._mqtt.publish_session_event(
                SessionNotice(
                    kind=event.kind,
                    connector_id=event.connector_id,
                    session_id=str(event.local_id),
                    at_s=event.at_s,
                    id_tag=event.id_tag,
                    energy_wh=float(event.energy_wh),
                    reason=event.reason,
                    cost=None if event.cost is None else cost_json(event.cost),
                )
            )
