"""Incoming commands: validate, hand to the sink, answer every one on a response topic."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt
from paho.mqtt.properties import Properties

from edge_controller.telemetry.command_parse import CommandParser
from edge_controller.telemetry.command_port import CommandPort, CommandResult
from edge_controller.telemetry.outgoing import OutgoingQueue, OutMessage
from edge_controller.telemetry.payloads import encode_json
from edge_controller.telemetry.topics import Topics


class CommandReceiver:
    def __init__(
        self,
        *,
        topics: Topics,
        parser: CommandParser,
        sink: CommandPort,
        queue: OutgoingQueue,
        timeout_s: float,
        log: Any,
    ) -> None:
        self._topics = topics
        self._parser = parser
        self._sink = sink
        self._queue = queue
        self._timeout_s = timeout_s
        self._log = log
        self.refused = 0

    async def handle(self, message: aiomqtt.Message) -> None:
        name = self._topics.command_name(str(message.topic))
        if name is None:
            return
        raw = message.payload if isinstance(message.payload, bytes) else b""
        request_id, result = await self._execute(name, raw, retained=message.retain)
        if not result.ok:
            self.refused += 1
        self._log.info("mqtt_command", command=name, ok=result.ok, error=result.error)
        self._respond(name, request_id, result, message.properties)

    async def _execute(
        self, name: str, raw: bytes, *, retained: bool
    ) -> tuple[str | None, CommandResult]:
        parsed = self._parser.parse(name, raw)
        if retained:
            # A retained command would run again on every reconnect: refuse it.
            return parsed.request_id, CommandResult.failure(
                "retained commands are refused; publish commands with retain=false"
            )
        if parsed.command is None:
            return parsed.request_id, CommandResult.failure(parsed.error or "invalid command")
        try:
            async with asyncio.timeout(self._timeout_s):
                return parsed.request_id, await self._sink.decide(parsed.command)
        except TimeoutError:
            text = f"no answer within {self._timeout_s:g} s; the command may still be applied"
            return parsed.request_id, CommandResult.failure(text)
        except Exception as exc:  # a bug in a service must not end the command loop
            self._log.exception("mqtt_command_failed", command=name)
            return parsed.request_id, CommandResult.failure(f"internal error: {type(exc).__name__}")

    def _respond(
        self, name: str, request_id: str | None, result: CommandResult, props: Properties | None
    ) -> None:
        topic = self._topics.command_response(name)
        correlation: bytes | None = None
        if props is not None:
            given = getattr(props, "ResponseTopic", None)
            if isinstance(given, str) and self._topics.is_reply_topic(given):
                topic = given
            data = getattr(props, "CorrelationData", None)
            correlation = bytes(data) if isinstance(data, bytes | bytearray) else None
        body = {"command": name, "request_id": request_id, "ok": result.ok, "error": result.error}
        self._queue.put_event(
            OutMessage(topic, encode_json(body), retain=False, qos=1, correlation_data=correlation)
        )
