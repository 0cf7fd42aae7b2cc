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


@dataclass(frozen=True, slots=True)
class Reserve:
    """Hold a connector for ``id_tag`` (or its parent group) until ``expiry_at_s`` (local
    clock); a new request with the id of an existing reservation replaces it."""

    connector_id: str
    reservation_id: int
    id_tag: str
    expiry_at_s: float
    parent_id_tag: str | None = None
    source: str = "csms"


@dataclass(frozen=True, slots=True)
class CancelReservation:
    reservation_id: int
    source: str = "csms"


@dataclass(frozen=True, slots=True)
class ChangeSessionRules:
    """Session behaviour a CSMS sets through its OCPP configuration keys; None leaves a rule as
    it is. The names are those of ``AuthPolicy`` and ``Timeouts``."""

    local_list_enabled: bool | None = None  # LocalAuthListEnabled
    cache_enabled: bool | None = None  # AuthorizationCacheEnabled
    local_pre_authorize: bool | None = None  # LocalPreAuthorize
    offline_authorize_from_list: bool | None = None  # LocalAuthorizeOffline
    allow_unknown_offline: bool | None = None  # AllowOfflineTxForUnknownId
    stop_on_invalid: bool | None = None  # StopTransactionOnInvalidId
    plug_timeout_s: float | None = None  # ConnectionTimeOut
    stop_transaction_data: bool | None = None  # StopTxnSampledData names the energy register
    source: str = "csms"


Command = (
    SetSiteLimit
    | SetConnectorLimit
    | SetConnectorEnabled
    | StartSession
    | StopSession
    | Reserve
    | CancelReservation
    | ChangeSessionRules
)
