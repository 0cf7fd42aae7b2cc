"""Operator and local-app commands as domain values. MQTT, the CSMS and the CLI produce them;
the services that own the state apply them. Connector ids are ``<charger id>:<n>`` (n from 1)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SetSiteLimit:
    """Cap the grid connection below its configured limit (None lifts the cap)."""

    current_a: float | None
    source: str = "operator"


@dataclass(frozen=True, slots=True)
class SetConnectorLimit:
    connector_id: str
    current_a: float | None
    source: str = "operator"


@dataclass(frozen=True, slots=True)
class SetConnectorEnabled:
    """Take a connector out of service for maintenance, or back in."""

    connector_id: str
    enabled: bool
    source: str = "operator"


@dataclass(frozen=True, slots=True)
class StartSession:
    connector_id: str
    id_tag: str
    source: str = "local"


@dataclass(frozen=True, slots=True)
class StopSession:
    connector_id: str
    source: str = "local"


Command = SetSiteLimit | SetConnectorLimit | SetConnectorEnabled | StartSession | StopSession
