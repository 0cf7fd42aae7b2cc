"""Incoming commands: validate, hand to the sink, answer every one on a response topic."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiomqtt
from paho.mqtt.properties import Properties

from edge_controller.domain.commands import Command, PayAtTerminal
from edge_controller.telemetry.command_parse import CommandParser, Parsed
from edge_controller.telemetry.command_port import CommandPort, CommandResult
from edge_controller.telemetry.outgoing import OutgoingQueue, OutMessage
from edge_controller.telemetry.payloads import encode_json
from edge_controller.telemetry.topics import Topics

# Commands whose outcome waits on a person (a card holder at the terminal, then the plug-in):
# answered "pending" at once, the outcome later on the same reply topic, with no time limit
# here (the terminal's own timeouts bound it).
LONG_COMMANDS = (PayAtTerminal,)
MAX_LONG_IN_FLIGHT = 16


@dataclass(frozen=True, slots=True)
class _Reply:
    name: str
    request_id: str | None
    props: Properties | None


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
        self._long: asyncio.Queue[tuple[_Reply, Command]] = asyncio.Queue(MAX_LONG_IN_FLIGHT)
        self._long_in_flight = 0

    async def handle(self, message: aiomqtt.Message) -> None:
        name = self._topics.command_name(str(message.topic))
        if name is None:
            return
        raw = message.payload if isinstance(message.payload, bytes) else b""
        parsed = self._parser.parse(name, raw)
        if isinstance(parsed.command, LONG_COMMANDS) and not message.retain:
            reply = _Reply(name, parsed.request_id, message.properties)
            self._hand_over(reply, parsed.command)
            return
        result = await self._execute(name, parsed, retained=message.retain)
        self._answer(_Reply(name, parsed.request_id, message.properties), result)

    async def run_long_commands(self) -> None:
        """Work off the long commands, each in its own task (until cancelled)."""
        async with asyncio.TaskGroup() as group:
            while True:
                reply, command = await self._long.get()
                group.create_task(self._finish(reply, command))

    def _hand_over(self, reply: _Reply, command: Command) -> None:
        """Queue a long command and answer "pending"; refused when too many are in flight."""
        if self._long_in_flight >= MAX_LONG_IN_FLIGHT:
            self._answer(reply, CommandResult.failure("too many payments in progress"))
            return
        self._long_in_flight += 1
        self._long.put_nowait((reply, command))
        self._respond(reply.name, reply.request_id, CommandResult(True), reply.props, pending=True)

    async def _finish(self, reply: _Reply, command: Command) -> None:
        try:
            result = await self._sink.decide(command)
        except Exception as exc:  # a bug in a service must not end the command loop
            self._log.exception("mqtt_command_failed", command=reply.name)
            result = CommandResult.failure(f"internal error: {type(exc).__name__}")
        finally:
            self._long_in_flight -= 1
        self._answer(reply, result, pending=False)

    def _answer(self, reply: _Reply, result: CommandResult, pending: bool | None = None) -> None:
        if not result.ok:
            self.refused += 1
        self._log.info("mqtt_command", command=reply.name, ok=result.ok, error=result.error)
        self._respond(reply.name, reply.request_id, result, reply.props, pending=pending)

    async def _execute(self, name: str, parsed: Parsed, *, retained: bool) -> CommandResult:
        if retained:
            # A retained command would run again on every reconnect: refuse it.
            return CommandResult.failure(
                "retained commands are refused; publish commands with retain=false"
            )
        if parsed.command is None:
            return CommandResult.failure(parsed.error or "invalid command")
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._sink.decide(parsed.command)
        except TimeoutError:
            text = f"no answer within {self._timeout_s:g} s; the command may still be applied"
            return CommandResult.failure(text)
        except Exception as exc:  # a bug in a service must not end the command loop
            self._log.exception("mqtt_command_failed", command=name)
            return CommandResult.failure(f"internal error: {type(exc).__name__}")

    def _respond(
        self,
        name: str,
        request_id: str | None,
        result: CommandResult,
        props: Properties | None,
        *,
        pending: bool | None = None,
    ) -> None:
        topic = self._topics.command_response(name)
        correlation: bytes | None = None
        if props is not None:
            given = getattr(props, "ResponseTopic", None)
            if isinstance(given, str) and self._topics.is_reply_topic(given):
                topic = given
            data = getattr(props, "CorrelationData", None)
            correlation = bytes(data) if isinstance(data, bytes | bytearray) else None
        body: dict[str, Any] = {
            "command": name, "request_id": request_id, "ok": result.ok, "error": result.error
        }  # fmt: skip
        if pending is not None:  # a long command: first "pending", then its outcome
            body["pending"] = pending
        self._queue.put_event(
            OutMessage(topic, encode_json(body), retain=False, qos=1, correlation_data=correlation)
        )
