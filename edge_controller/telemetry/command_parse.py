"""Validation of command payloads (JSON) into domain commands. Bad input never reaches a sink.

Every payload may carry ``request_id`` (echoed in the response). Connector ids may be given in
either form, ``wb1:1`` or the topic form ``wb1-1``; they must name a configured connector.
Only the commands of the site's allow-list (``mqtt.allowed_commands``) are taken; the others
are refused before their payload is even read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edge_controller.domain.commands import (
    Command,
    Origin,
    PayAtTerminal,
    SetConnectorEnabled,
    SetConnectorLimit,
    SetSiteLimit,
    StartSession,
    StopSession,
)
from edge_controller.domain.sessions.tokens import normalize_id_tag
from edge_controller.telemetry.topics import connector_id_from_topic_id

ORIGIN = Origin.MQTT
MAX_PAYLOAD_BYTES = 4096
RequestId = Annotated[str, Field(min_length=1, max_length=64)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
    request_id: RequestId | None = None


class _ConnectorPayload(_Payload):
    connector: str = Field(min_length=1, max_length=80)


class SiteLimitPayload(_Payload):
    current_a: float | None = Field(ge=0, le=6300)


class ConnectorLimitPayload(_ConnectorPayload):
    current_a: float | None = Field(ge=0, le=80)

    @field_validator("current_a")
    @classmethod
    def _offerable(cls, value: float | None) -> float | None:
        if value is not None and 0 < value < 6:
            raise ValueError("must be 0 or at least 6 A (the IEC 61851 minimum), or null")
        return value


class ConnectorEnabledPayload(_ConnectorPayload):
    enabled: bool


class SessionStartPayload(_ConnectorPayload):
    id_tag: str = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")
    key_code: bool = False  # the id is a code the driver typed in (OCPP 2.x KeyCode)


class SessionStopPayload(_ConnectorPayload):
    pass


class PayPayload(_ConnectorPayload):
    pass


_MODELS: dict[str, type[_Payload]] = {
    "site_limit": SiteLimitPayload,
    "connector_limit": ConnectorLimitPayload,
    "connector_enabled": ConnectorEnabledPayload,
    "session_start": SessionStartPayload,
    "session_stop": SessionStopPayload,
    "pay": PayPayload,
}


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed command, or the error that explains why it was refused."""

    request_id: str | None
    command: Command | None = None
    error: str | None = None


COMMANDS = tuple(_MODELS)


class CommandParser:
    def __init__(
        self, connector_ids: Collection[str], allowed: Collection[str] = (), origin: Origin = ORIGIN
    ) -> None:
        self._connectors, self._origin = frozenset(connector_ids), origin
        self._allowed = tuple(name for name in _MODELS if name in allowed)

    def parse(self, name: str, raw: bytes) -> Parsed:
        model = _MODELS.get(name)
        if model is None:
            return Parsed(None, error=f"unknown command {name!r}; known: {', '.join(_MODELS)}")
        if name not in self._allowed:
            allowed = ", ".join(self._allowed) or "none, MQTT is read-only here"
            return Parsed(
                _request_id_of(raw[:MAX_PAYLOAD_BYTES]),
                error=f"command {name!r} is not allowed on MQTT (mqtt.allowed_commands: {allowed})",
            )
        if len(raw) > MAX_PAYLOAD_BYTES:
            return Parsed(None, error=f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
        try:
            payload = model.model_validate_json(raw)
        except ValidationError as exc:
            return Parsed(_request_id_of(raw), error=_describe(exc))
        try:
            return Parsed(payload.request_id, command=self._command(payload))
        except ValueError as exc:
            return Parsed(payload.request_id, error=str(exc))

    def _connector(self, given: str) -> str:
        if given in self._connectors:
            return given
        native = connector_id_from_topic_id(given)
        if native is not None and native in self._connectors:
            return native
        known = ", ".join(sorted(self._connectors))
        raise ValueError(f"unknown connector {given!r}; known: {known}")

    def _command(self, p: _Payload) -> Command:
        origin = self._origin
        if isinstance(p, SiteLimitPayload):
            return SetSiteLimit(current_a=p.current_a, origin=origin)
        assert isinstance(p, _ConnectorPayload)
        connector_id = self._connector(p.connector)
        if isinstance(p, ConnectorLimitPayload):
            return SetConnectorLimit(connector_id, p.current_a, origin=origin)
        if isinstance(p, ConnectorEnabledPayload):
            return SetConnectorEnabled(connector_id, p.enabled, origin=origin)
        if isinstance(p, SessionStartPayload):
            tag = normalize_id_tag(p.id_tag)
            return StartSession(connector_id, tag, origin=origin, key_code=p.key_code)
        if isinstance(p, PayPayload):
            return PayAtTerminal(connector_id, origin=origin)
        return StopSession(connector_id, origin=origin)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(x) for x in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "invalid payload: " + "; ".join(parts)


def _request_id_of(raw: bytes) -> str | None:
    """The request id of an otherwise invalid payload, so the sender can match the error."""
    try:
        return _RequestIdOnly.model_validate_json(raw).request_id
    except ValidationError:
        return None


class _RequestIdOnly(BaseModel):
    model_config = ConfigDict(extra="ignore")
    request_id: RequestId | None = None
