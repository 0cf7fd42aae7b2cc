"""The MQTT service: sync, non-blocking publish calls for the control loop; one network task.

``publish_*`` only encode and put into the bounded :class:`OutgoingQueue` (call them from the
event-loop thread). ``run()`` owns the connection: an ``async with`` client per connection, an
outer reconnect loop with exponential backoff and jitter, the queue drained on each connection.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import random
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Concatenate, ParamSpec

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge_controller.config.settings import MIN_MQTT_STATE_TOPIC_CAP, MqttSettings, Settings
from edge_controller.domain.backoff import reconnect_delay_s
from edge_controller.domain.display_messages import DisplayMessage
from edge_controller.domain.problems import ProblemHandled
from edge_controller.domain.snapshot import ConnectorView, DeviceView, SiteView
from edge_controller.log import get_logger
from edge_controller.telemetry import payloads
from edge_controller.telemetry.client_factory import PUBLISH_WINDOW, build_client, tls_context
from edge_controller.telemetry.command_parse import CommandParser
from edge_controller.telemetry.command_port import CommandPort
from edge_controller.telemetry.discovery import Discovery
from edge_controller.telemetry.events import ProblemNotice, SessionNotice
from edge_controller.telemetry.outgoing import OutgoingQueue, OutMessage, QueueStats
from edge_controller.telemetry.receiver import CommandReceiver
from edge_controller.telemetry.topics import Topics

ClientFactory = Callable[[], aiomqtt.Client]
Handler = Callable[[str, bytes], None]
# Retained commands are never replayed on subscribe, and a live one keeps its retain flag so the
# receiver can refuse it (a retained command would otherwise run again on every reconnect).
# What a state message carries besides the state itself: a connector's is taken again at every
# tick, a device's counters move at every request. A topic is published again when anything
# else changes, and a device's counters at most every DEVICE_COUNTERS_EVERY_S.
# A charging connector's session energy moves at every reading of its meter (0.1 Wh steps): on
# its own it is published on a deadband and a period (``MqttSettings.energy_step_wh`` and
# ``energy_every_s``), with any other change of the connector's state always.
CONNECTOR_MOVING = frozenset({"at_s", "session_energy_wh"})
# The fields of a connector's view its state is made of, but those two: where none of them
# changed since the state last queued, the state is not made again (a thousand a tick).
_VIEW_STATE = operator.attrgetter(
    "connector_id", "availability", "offered_current_a", "measured_current_a", "power_w",
    "session_id", "limit_reason", "fault_text", "plug_wait_token", "plug_wait_until_s",
    "status_info", "price", "running_cost", "csms_cost",
)  # fmt: skip
DEVICE_COUNTERS = frozenset({"requests", "latency_p50_ms", "latency_p99_ms", "last_success_s"})
DEVICE_COUNTERS_EVERY_S = 10.0
# A child gateway's report age moves at every tick: alone, it is published as a device's
# counters are (at most every DEVICE_COUNTERS_EVERY_S), its budget, count or loss at once.
CHILD_MOVING = frozenset({"report_age_s", "at_s"})
_ROUNDING_WH = 1e-6  # energies are rounded to 0.1 Wh: 110.3 - 100.3 is a hair below 10

_COMMAND_OPTIONS = SubscribeOptions(
    qos=1, retainAsPublished=True, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND
)
# The children's state topics are read for what an earlier run left retained there (a child no
# longer configured is cleared). Not "no local": that run had our client id, and a broker may
# apply it to retained messages too; our own publications echoed back are live, not retained,
# and passed over.
_CHILDREN_OPTIONS = SubscribeOptions(qos=1)


P = ParamSpec("P")


def _contained(
    method: Callable[Concatenate[MqttService, P], None],
) -> Callable[Concatenate[MqttService, P], None]:
    """A publish call must never raise into the control loop: a bad view is logged and skipped."""

    @functools.wraps(method)
    def wrapper(self: MqttService, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(self, *args, **kwargs)
        except (TypeError, ValueError, KeyError, AttributeError):
            self._publish_errors += 1
            self._log.exception("mqtt_publish_failed", call=method.__name__)

    return wrapper


@dataclass(slots=True)
class _ShownConnector:
    """What a connector's state topic last queued: the view's fields it was made from (but
    its time and energy), that state without them, its energy and its time."""

    fields: tuple[object, ...]
    state: payloads.JsonDict
    energy_wh: float | None
    at_s: float


@dataclass(frozen=True, slots=True)
class MqttStats:
    connected: bool
    connects: int
    published: int
    commands_refused: int
    publish_errors: int
    queue: QueueStats


class MqttService:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        prefix: str,
        site_id: str,
        connector_ids: Collection[str],
        sink: CommandPort,
        rng: random.Random | None = None,
        state_topic_cap: int | None = None,
        child_ids: Collection[str] = (),
    ) -> None:
        """``child_ids``: a parent gateway's children (their state topics are published; any
        other child's that is retained under the prefix is cleared)."""
        self._settings = settings
        self._child_ids = frozenset(child_ids)
        self.topics = Topics(prefix)
        self._log = get_logger("mqtt", site_id=site_id)
        self._rng = rng or random.Random()
        self._discovery = Discovery(settings.discovery_prefix, site_id, self.topics)
        cap = state_topic_cap or settings.max_state_topics or MIN_MQTT_STATE_TOPIC_CAP
        self._queue = OutgoingQueue(
            max_events=settings.max_queued_events,
            max_bytes=settings.max_queued_bytes,
            # The discovery configs are a fixed set known now: room for them on top.
            max_state_topics=cap + self._discovery_topics(len(connector_ids)),
            log=self._log,
        )
        self._receiver = CommandReceiver(
            topics=self.topics,
            parser=CommandParser(connector_ids, settings.allowed_commands),
            sink=sink,
            queue=self._queue,
            timeout_s=settings.command_timeout_s,
            log=self._log,
        )
        self._announced: set[str] = set()
        # State topic -> (what was last queued on it but its time and counters, when it was).
        self._shown: dict[str, tuple[payloads.JsonDict, float | None]] = {}
        # Connector id -> what its state topic last queued (``_ShownConnector``).
        self._shown_connectors: dict[str, _ShownConnector] = {}
        self._listeners: list[tuple[str, Handler]] = []
        self.client_id = settings.client_id or f"edge-controller-{site_id}"
        self._client_factory = self._make_client_factory(self.client_id)
        self._connected = False
        self._connects = 0
        self._published = 0
        self._publish_errors = 0
        self._announce_all(connector_ids)

    def _make_client_factory(self, client_id: str) -> ClientFactory:
        # The TLS context is built now, so a missing or bad CA file fails at start-up.
        context = tls_context(self._settings)
        return lambda: build_client(self._settings, client_id, self.topics.status, context)

    @classmethod
    def from_settings(cls, settings: Settings, sink: CommandPort) -> MqttService:
        connector_ids = [
            f"{charger_id}:{n}"
            for charger_id, charger in settings.chargers.items()
            for n in range(1, charger.connectors + 1)
        ]
        return cls(
            settings.mqtt,
            prefix=settings.mqtt_prefix,
            site_id=settings.site.id,
            connector_ids=connector_ids,
            sink=sink,
            state_topic_cap=settings.mqtt_state_topic_cap + _gateway_topics(settings),
            child_ids=settings.site.gateways.children if settings.site.role == "parent" else (),
        )

    def _discovery_topics(self, connectors: int) -> int:
        if not self._settings.ha_discovery:
            return 0
        return self._discovery.topic_count(connectors)

    # -- publishing (sync, never blocks) ------------------------------------------------------

    @_contained
    def publish_site(self, view: SiteView) -> None:
        """Queue the state of every connector and device in the view, and site/state once
        every device of the site has been read (before that its headroom and sums are not
        known, and a retained guess would stay in every subscriber's history)."""
        self._put_site(view)
        for connector in view.connectors:
            self.publish_connector(connector)
        self._put_devices(view)
        self._put_children(view)

    @_contained
    def publish_site_only(self, view: SiteView) -> None:
        """``publish_site`` but the connectors' states: whoever calls it publishes those that
        changed (``publish_connector``), without joining every connector's view for it."""
        self._put_site(view)
        self._put_devices(view)
        self._put_children(view)

    def energy_due(self, view: ConnectorView) -> bool:
        """Whether the connector's state is to be queued for its session energy alone (or was
        never queued): what ``publish_connector`` would queue of a view unchanged but that."""
        last = self._shown_connectors.get(view.connector_id)
        return last is None or self._energy_due(last, payloads.energy_wh(view), view.at_s)

    def _put_site(self, view: SiteView) -> None:
        if not view.waiting_for:
            self._put_state(
                self.topics.site_state, payloads.encode_json(payloads.site_payload(view))
            )

    def _put_devices(self, view: SiteView) -> None:
        for device in view.devices:
            self.publish_device(device, view.at_s)

    def _put_children(self, view: SiteView) -> None:
        """A parent's children as it sees them: each when its budget, what it is counted at or
        its loss changed, and when only its report's age moved at most every
        ``DEVICE_COUNTERS_EVERY_S`` (the age is of ``at_s``, the view's time)."""
        for child in view.gateway_children:
            if child.child_id in self._child_ids:
                topic = self.topics.child_state(child.child_id)
                payload = payloads.child_payload(child, view.at_s)
                self._put_changed(topic, payload, CHILD_MOVING, view.at_s)

    @_contained
    def publish_connector(self, view: ConnectorView) -> None:
        """Queue a connector's state if it changed (its ``at_s`` aside: that is when it was
        taken, at every tick; a thousand unchanged states a second would crowd out the ones
        that did change); a change of its session energy alone only once it is due
        (``_energy_due``)."""
        cid = view.connector_id
        if cid not in self._announced:
            self._announce_all([cid])
        last, fields, at_s = self._shown_connectors.get(cid), _VIEW_STATE(view), view.at_s
        if (
            last is not None
            and last.fields == fields  # the usual case: its state is not made again
            and not self._energy_due(last, payloads.energy_wh(view), at_s)
        ):
            return
        payload = payloads.connector_payload(view)
        state = {k: v for k, v in payload.items() if k not in CONNECTOR_MOVING}
        energy_wh = payload["session_energy_wh"]
        if last is not None and last.state == state:  # (fields that round alike)
            last.fields = fields
            if not self._energy_due(last, energy_wh, at_s):
                return
        self._shown_connectors[cid] = _ShownConnector(fields, state, energy_wh, at_s)
        self._put_state(self.topics.connector_state(cid), payloads.encode_json(payload))

    @_contained
    def publish_messages(
        self, connector_id: str | None, messages: tuple[DisplayMessage, ...]
    ) -> None:
        """The display messages shown now at a connector (None: the site's own), retained
        whatever ``retain`` says: a display that connects later shows them."""
        topic = (
            self.topics.site_messages
            if connector_id is None
            else self.topics.connector_messages(connector_id)
        )
        body = payloads.encode_json(payloads.messages_payload(messages))
        self._queue.put_state(OutMessage(topic, body, retain=True, qos=self._settings.qos))

    @_contained
    def publish_payment(self, connector_id: str, payment: payloads.JsonDict) -> None:
        """How a driver pays on the web at a connector now (its QR code, a hold), retained."""
        topic = self.topics.connector_payment(connector_id)
        body = payloads.encode_json(payment)
        self._queue.put_state(OutMessage(topic, body, retain=True, qos=self._settings.qos))

    @_contained
    def publish_device(self, view: DeviceView, at_s: float | None = None) -> None:
        """Queue a device's state if its health changed, or if only its counters did and they
        were last queued ``DEVICE_COUNTERS_EVERY_S`` before ``at_s`` (None: queue it)."""
        topic = self.topics.device_state(view.device_id)
        self._put_changed(topic, payloads.device_payload(view), DEVICE_COUNTERS, at_s)

    @_contained
    def publish_problem(self, event: ProblemNotice | ProblemHandled) -> None:
        """A report filed, acknowledged or resolved (published once, not retained)."""
        body = payloads.encode_json(payloads.problem_event_payload(event))
        self._queue.put_event(
            OutMessage(self.topics.problem_events, body, retain=False, qos=self._settings.qos)
        )

    @_contained
    def publish_session_event(self, event: SessionNotice) -> None:
        body = payloads.encode_json(payloads.session_event_payload(event))
        self._queue.put_event(
            OutMessage(self.topics.session_events, body, retain=False, qos=self._settings.qos)
        )

    @_contained
    def publish_other(
        self, topic: str, payload: bytes, *, retain: bool, send_by_s: float | None = None
    ) -> None:
        """A message of another part of the site under its own topic (the gateways' budgets
        and demands): the latest per topic wins while queued; dropped if not sent by
        ``send_by_s`` (monotonic), and not replayed after that."""
        msg = OutMessage(topic, payload, retain=retain, qos=self._settings.qos, send_by_s=send_by_s)
        self._queue.put_state(msg)

    def listen(self, topic_filter: str, handler: Handler) -> None:
        """Hand every message on ``topic_filter`` to ``handler`` (topic, payload), subscribed
        on every connection. The handler must not block; an exception from it is logged and
        the message dropped. Call before ``run``."""
        self._listeners.append((topic_filter, handler))

    def stats(self) -> MqttStats:
        return MqttStats(
            connected=self._connected,
            connects=self._connects,
            published=self._published,
            commands_refused=self._receiver.refused,
            publish_errors=self._publish_errors,
            queue=self._queue.stats(),
        )

    def _energy_due(self, last: _ShownConnector, energy_wh: float | None, at_s: float) -> bool:
        """True if the session energy moved since it was last queued, by ``energy_step_wh``
        or more, or at all with that ``energy_every_s`` or longer ago (a session's start and
        end change its ``session_id`` too: queued whatever the energy)."""
        last_wh, last_at_s = last.energy_wh, last.at_s
        if energy_wh == last_wh:
            return False
        if energy_wh is None or last_wh is None:
            return True
        settings = self._settings
        return (
            abs(energy_wh - last_wh) >= settings.energy_step_wh - _ROUNDING_WH
            or not 0.0 <= at_s - last_at_s < settings.energy_every_s  # a clock set back: due
        )

    def _put_changed(
        self, topic: str, payload: payloads.JsonDict, moving: frozenset[str], at_s: float | None
    ) -> None:
        state = {k: v for k, v in payload.items() if k not in moving}
        last = self._shown.get(topic)
        if last is not None and last[0] == state:
            last_at_s = last[1]
            # A clock set back (NTP at boot) starts the period again rather than holding
            # the counters until it passes the last time queued.
            if (
                at_s is None
                or last_at_s is None
                or 0.0 <= at_s - last_at_s < DEVICE_COUNTERS_EVERY_S
            ):
                return
        self._shown[topic] = (state, at_s)
        self._put_state(topic, payloads.encode_json(payload))

    def _put_state(self, topic: str, body: bytes) -> None:
        msg = OutMessage(topic, body, retain=self._settings.retain, qos=self._settings.qos)
        if msg.retain:
            self._queue.put_state(msg)
        else:
            self._queue.put_event(msg)

    def _announce_all(self, connector_ids: Collection[str]) -> None:
        """Queue discovery configs (site + given connectors) if discovery is on."""
        if not self._settings.ha_discovery:
            return
        configs = self._discovery.site_configs()
        for connector_id in connector_ids:
            configs += self._discovery.connector_configs(connector_id)
            self._announced.add(connector_id)
        for topic, config in configs:
            self._queue.put_state(
                OutMessage(topic, payloads.encode_json(config), retain=True, qos=1)
            )

    # -- network ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, publish, receive commands; reconnect with backoff forever (until cancelled).
        Long commands (a payment) are worked off beside it, across reconnections."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._receiver.run_long_commands())
            await self._connect_forever()

    async def _connect_forever(self) -> None:
        attempt = 0
        while True:
            connected_before = self._connects
            try:
                async with self._client_factory() as client:
                    self._connects += 1
                    attempt = 0
                    await self._serve(client)
            except* aiomqtt.MqttError as group:
                was_up = self._connects > connected_before
                event = "mqtt_disconnected" if was_up else "mqtt_connect_failed"
                self._log.warning(event, error=str(group.exceptions[0]), attempt=attempt)
            finally:
                self._connected = False
            delay_s = reconnect_delay_s(
                attempt, self._settings.reconnect_min_s, self._settings.reconnect_max_s, self._rng
            )
            attempt += 1
            await asyncio.sleep(delay_s)

    async def _serve(self, client: aiomqtt.Client) -> None:
        _raise_if_cancelled()
        timeout_s = self._settings.publish_timeout_s
        await client.publish(self.topics.status, b"online", qos=1, retain=True, timeout=timeout_s)
        await client.subscribe(
            self.topics.command_filter, options=_COMMAND_OPTIONS, timeout=timeout_s
        )
        if self._settings.ha_discovery:
            await client.subscribe(self._ha_status_topic, qos=1, timeout=timeout_s)
        for topic_filter, _ in self._listeners:
            await client.subscribe(topic_filter, qos=1, timeout=timeout_s)
        await client.subscribe(
            self.topics.child_state_filter, options=_CHILDREN_OPTIONS, timeout=timeout_s
        )
        self._queue.replay_states()
        self._connected = True
        self._log.info("mqtt_connected", host=self._settings.host, port=self._settings.port)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._send_pending(client))
                # Receiving runs in the group's body, not as a second task: on Python 3.11 a
                # child failing after the body has finished leaves this task marked cancelled.
                await self._receive(client)
        except asyncio.CancelledError:
            await self._say_offline(client)
            raise

    @property
    def _ha_status_topic(self) -> str:
        return f"{self._settings.discovery_prefix}/status"

    async def _send_pending(self, client: aiomqtt.Client) -> None:
        """Publish what is queued, up to ``PUBLISH_WINDOW`` messages awaiting the broker's
        acknowledgement at once (they go out in queue order: waiting for each before sending
        the next carried some sixty messages a second, fewer than a large site changes). A
        failure puts back every message not yet acknowledged, in order."""
        window: deque[tuple[OutMessage, asyncio.Task[None]]] = deque()
        try:
            while True:
                if not window or self._queue.pending():
                    msg = await self._queue.get()
                    publishing = asyncio.ensure_future(self._publish(client, msg))
                    window.append((msg, publishing))
                while window and (window[0][1].done() or len(window) >= PUBLISH_WINDOW
                                  or not self._queue.pending()):  # fmt: skip
                    msg, publishing = window[0]
                    await publishing
                    window.popleft()
                    self._queue.sent(msg)
                    self._published += 1
                _raise_if_cancelled()
        except BaseException:
            for msg, publishing in reversed(window):
                publishing.cancel()
                publishing.add_done_callback(_retrieved)  # its failure is the one raised
                self._queue.retry(msg)
            raise

    async def _publish(self, client: aiomqtt.Client, msg: OutMessage) -> None:
        await client.publish(
            msg.topic,
            msg.payload,
            qos=msg.qos,
            retain=msg.retain,
            properties=_properties(msg),
            timeout=self._settings.publish_timeout_s,
        )

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if message.topic.matches(self._ha_status_topic):
                if message.payload == b"online":  # Home Assistant restarted: announce again
                    self._announce_all(sorted(self._announced))
                continue
            if self._hand_over(message):
                continue
            if message.topic.matches(self.topics.child_state_filter):
                await self._clear_unconfigured(client, message)
                continue
            await self._receiver.handle(message)
            _raise_if_cancelled()
        raise aiomqtt.MqttError("message stream ended")

    def _hand_over(self, message: aiomqtt.Message) -> bool:
        """Give a message on a listened-to topic to its handler; False if none listens."""
        for topic_filter, handler in self._listeners:
            if message.topic.matches(topic_filter):
                payload = message.payload
                body = payload if isinstance(payload, bytes) else str(payload).encode()
                try:
                    handler(message.topic.value, body)
                except Exception:
                    self._log.exception("mqtt_handler_failed", topic=message.topic.value)
                return True
        return False

    async def _clear_unconfigured(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        """A child's state retained under the prefix, not a child of this gateway now (removed
        from the config, or this gateway no longer a parent): cleared, so no subscriber is shown
        a child that is gone as it was when this gateway last saw it."""
        child_id = self.topics.child_id(message.topic.value)
        if not message.retain or not message.payload or child_id in self._child_ids:
            return
        self._log.info("retained state of a child no longer configured cleared", child=child_id)
        await client.publish(
            message.topic.value,
            b"",
            qos=1,
            retain=True,
            timeout=self._settings.publish_timeout_s,
        )

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        """A clean stop sends no will, so say offline ourselves (best effort)."""
        try:
            await client.publish(self.topics.status, b"offline", qos=1, retain=True, timeout=2.0)
        except aiomqtt.MqttError as exc:
            self._log.warning("mqtt_offline_not_sent", error=str(exc))


def _retrieved(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


def _gateway_topics(settings: Settings) -> int:
    """The gateways' topics on top: a parent's budget and state per child, a child's demand."""
    children = len(settings.site.gateways.children)
    return {"parent": 2 * children, "child": 1}.get(settings.site.role, 0)


def _raise_if_cancelled() -> None:
    """Python 3.11's ``asyncio.wait_for`` (used inside aiomqtt) can swallow a cancellation
    that races with the awaited result; a swallowed cancel would keep a stopping task alive."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _properties(msg: OutMessage) -> Properties | None:
    if msg.correlation_data is None:
        return None
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.CorrelationData = msg.correlation_data
    return props
