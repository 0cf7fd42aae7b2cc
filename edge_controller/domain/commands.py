"""Operator and local-app commands as domain values. MQTT, the CSMS and the CLI produce them;
the services that own the state apply them. Connector ids are ``<charger id>:<n>`` (n from 1)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


class Origin(enum.StrEnum):
    """Where a command entered. The session side decides by it whether a start's id tag is
    authorised here (``domain.sessions.state.needs_authorization``); nothing reads words in it."""

    CARD = "card"
    CSMS = "csms"
    MQTT = "mqtt"
    WEB = "web"
    OPERATOR = "operator"
    LOCAL = "local"
    # a start for an approved card pre-authorisation at the site's terminal: that approval
    # authorises it (only the payment flow makes these, never an entry point)
    PAYMENT_TERMINAL = "payment_terminal"


class StartReason(enum.StrEnum):
    """Why a start command was sent."""

    REQUESTED = "requested"  # an app or operator asked for a start (MQTT, web, console)
    REMOTE_START = "remote_start"  # the CSMS asked (RemoteStartTransaction)


class StopReason(enum.Enum):
    """Why a session ended (the values are OCPP 1.6 StopTransaction reasons, but for
    ``COST_LIMIT``). A stop command carries the one it ends its session with."""

    LOCAL = "Local"
    REMOTE = "Remote"
    EV_DISCONNECTED = "EVDisconnected"
    EMERGENCY_STOP = "EmergencyStop"
    OTHER = "Other"
    DEAUTHORIZED = "DeAuthorized"
    REBOOT = "Reboot"
    POWER_LOSS = "PowerLoss"
    HARD_RESET = "HardReset"
    SOFT_RESET = "SoftReset"
    # Not 1.6 reasons (sent there as "Other"): the running cost reached what was paid for or
    # what the CSMS allowed; the energy or time the CSMS allowed was reached.
    COST_LIMIT = "CostLimitReached"
    ENERGY_LIMIT = "EnergyLimitReached"
    TIME_LIMIT = "TimeLimitReached"
    # Stopped by a master pass token (OCPP 2.x; 1.6 says Local).
    MASTER_PASS = "MasterPass"
    # An authorisation whose EV never came (OCPP 2.x, a transaction begun at the authorisation).
    TIMEOUT = "Timeout"
    # The EV stopped drawing energy where a transaction ends then (OCPP 2.x TxStopPoint
    # EnergyTransfer; 1.6 says Other).
    STOPPED_BY_EV = "StoppedByEV"


@dataclass(frozen=True, slots=True)
class SetSiteLimit:
    """Cap the grid connection below its configured limit (None lifts the cap)."""

    current_a: float | None
    origin: Origin = Origin.OPERATOR


@dataclass(frozen=True, slots=True)
class SetConnectorLimit:
    connector_id: str
    current_a: float | None
    origin: Origin = Origin.OPERATOR


@dataclass(frozen=True, slots=True)
class SetConnectorEnabled:
    """Take a connector out of service for maintenance, or back in."""

    connector_id: str
    enabled: bool
    origin: Origin = Origin.OPERATOR


@dataclass(frozen=True, slots=True)
class StartSession:
    """Start charging for ``id_tag``. The session side authorises the id tag of every origin
    (local list, cache, CSMS Authorize, offline rules) except a CSMS start: the CSMS authorised
    it already, unless ``authorize_first`` (AuthorizeRemoteTxRequests) asks for it again.

    ``any_of``: the session side picks one of these connectors (one with an EV waiting first,
    then in this order); ``connector_id`` then only names the group (``<identity>:0``)."""

    connector_id: str
    id_tag: str
    origin: Origin = Origin.LOCAL
    authorize_first: bool = False
    any_of: tuple[str, ...] = ()
    reason: StartReason = StartReason.REQUESTED
    remote_start_id: int | None = None  # OCPP 2.x: the CSMS's id of its start request
    key_code: bool = False  # OCPP 2.x: the CSMS gave the id tag as a KeyCode token


@dataclass(frozen=True, slots=True)
class StopSession:
    """Stop the session on a connector (or give up a start that waits there); the session
    ends with ``reason``."""

    connector_id: str
    origin: Origin = Origin.LOCAL
    reason: StopReason = StopReason.LOCAL


@dataclass(frozen=True, slots=True)
class Reserve:
    """Hold a connector for ``id_tag`` (or its parent group) until ``expiry_at_s`` (local
    clock); a new request with the id of an existing reservation replaces it."""

    connector_id: str
    reservation_id: int
    id_tag: str
    expiry_at_s: float
    parent_id_tag: str | None = None
    origin: Origin = Origin.CSMS


@dataclass(frozen=True, slots=True)
class CancelReservation:
    reservation_id: int
    origin: Origin = Origin.CSMS


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
    master_pass_group_id: str | None = None  # AuthCtrlr.MasterPassGroupId ("": none)
    plug_timeout_s: float | None = None  # ConnectionTimeOut
    stop_transaction_data: bool | None = None  # StopTxnSampledData names the energy register
    start_at_plug: bool | None = None  # TxStartPoint EVConnected: a transaction at the plug-in
    # TxStartPoint Authorized: a transaction at the authorisation, before the EV is plugged in
    start_at_authorization: bool | None = None
    # TxStopPoint EnergyTransfer: a session ends when its EV stops drawing energy
    stop_at_energy_end: bool | None = None
    # TxStopPoint EVConnected alone: a transaction ends only when its EV leaves (it goes on
    # after a session the driver stopped)
    stop_only_at_unplug: bool | None = None
    # TxStopPoint Authorized alone: a transaction ends only when its authorisation ends
    stop_only_at_deauthorization: bool | None = None
    origin: Origin = Origin.CSMS


@dataclass(frozen=True, slots=True)
class PayAtTerminal:
    """A driver pays at the connector's card terminal: on approval the session starts with
    the payment's reference as its token."""

    connector_id: str
    origin: Origin = Origin.LOCAL


@dataclass(frozen=True, slots=True)
class TransactionLimit:
    """What the CSMS allows one transaction (2.1 TransactionLimit); None: no limit of that
    kind. ``max_cost`` is in the tariff's currency, tax included; ``max_soc_pct`` is kept and
    reported, not enforced (no charger here reports an EV's state of charge)."""

    max_cost: Decimal | None = None
    max_energy_wh: Decimal | None = None
    max_time_s: int | None = None
    max_soc_pct: int | None = None


@dataclass(frozen=True, slots=True)
class SetTransactionLimit:
    """Limit a running session's cost, energy or time; kept with the session, so a restart
    keeps it (``domain.sessions.limits`` decides when it is reached)."""

    session_local_id: int
    limit: TransactionLimit
    origin: Origin = Origin.CSMS


@dataclass(frozen=True, slots=True)
class ChangeSessionTariff:
    """From now on ``tariff`` (``domain.pricing.codec`` shape) prices a running session (OCPP
    2.1 ChangeTransactionTariff); ``source`` names who gave it, as the session records it."""

    session_local_id: int
    tariff: Mapping[str, Any]
    source: str
    origin: Origin = Origin.CSMS


Command = (
    SetSiteLimit
    | SetConnectorLimit
    | SetConnectorEnabled
    | StartSession
    | StopSession
    | Reserve
    | CancelReservation
    | ChangeSessionRules
    | PayAtTerminal
    | SetTransactionLimit
    | ChangeSessionTariff
)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What the owner of the state decided; ``error`` is plain words for whoever sent it."""

    ok: bool
    error: str | None = None
    connector_id: str | None = None  # where a start or reservation was placed
    answer: str | None = None  # the decision in protocol words where one exists (ReserveNow)

    @classmethod
    def success(cls, connector_id: str | None = None) -> CommandResult:
        return cls(ok=True, connector_id=connector_id)

    @classmethod
    def failure(cls, error: str) -> CommandResult:
        return cls(ok=False, error=error)
