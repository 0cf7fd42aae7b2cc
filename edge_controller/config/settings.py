"""Typed site configuration: one YAML file, overridable from the environment.

Every section model forbids unknown keys; units are in key names. Secrets may be given as
``*_file`` paths (``$CREDENTIALS_DIRECTORY`` is expanded for systemd credentials) so they never
sit in the YAML.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from edge_controller.config.tariffs import TariffsSettings
from edge_controller.domain.pricing.money import MINOR_UNITS
from edge_controller.domain.web_payment import template_problem

ENV_PREFIX = "EDGE_CONTROLLER__"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Ident = Annotated[str, Field(pattern=ID_PATTERN)]


def one_of(*values: int) -> Callable[[int], int]:
    """A check for an int restricted to ``values`` that, unlike Literal, also accepts "9600"
    from an environment variable."""

    def check(value: int) -> int:
        if value not in values:
            raise ValueError(f"must be one of {', '.join(map(str, values))}")
        return value

    return check


Baud = Annotated[int, AfterValidator(one_of(1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200))]
PhaseCount = Annotated[int, AfterValidator(one_of(1, 3))]
StopBits = Annotated[int, AfterValidator(one_of(1, 2))]
DataBits = Annotated[int, AfterValidator(one_of(7, 8))]
SecurityProfile = Annotated[int, AfterValidator(one_of(0, 1, 2, 3))]
OcppVersion = Literal["1.6", "2.0.1", "2.1"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True)


def read_secret_file(path: Path) -> SecretStr:
    """Read a secret from a file; ``$CREDENTIALS_DIRECTORY`` is expanded (systemd credentials)."""
    expanded = Path(os.path.expandvars(str(path)))
    try:
        return SecretStr(expanded.read_text(encoding="utf-8").rstrip("\r\n"))
    except OSError as exc:
        raise ValueError(f"cannot read secret file {expanded}: {exc.strerror}") from exc


def resolve_secret(value: SecretStr | None, file: Path | None, name: str) -> SecretStr | None:
    if value is not None and file is not None:
        raise ValueError(f"give {name} or {name}_file, not both")
    return read_secret_file(file) if file is not None else value


class FeederSettings(Section):
    """A sub-circuit below the grid connection with its own per-phase fuse."""

    limit_a: float = Field(gt=0, le=6300, description="per-phase limit of this sub-circuit")
    parent: Ident | None = Field(None, description="feeder above this one; none: the grid")


class ChildGatewaySettings(Section):
    """A child gateway as its parent sees it: the feeder it hangs on and its budgets' terms."""

    limit_a: float = Field(gt=0, le=6300, description="per-phase limit of the child's feeder")
    parent: Ident | None = Field(None, description="feeder above the child's; none: the grid")
    safe_budget_a: float = Field(
        ge=0,
        le=6300,
        description="per-phase current the child falls back to without a budget: the same as "
        "the child's own site.gateways.safe_budget_a",
    )
    lease_s: float = Field(
        30.0, ge=2, le=3600, description="how long a budget holds; renewed every third of it"
    )


class GatewaysSettings(Section):
    """Several gateways behind one grid connection: the parent (site.role parent) hands each
    child (site.role child) a budget over MQTT; see README, "Several gateways"."""

    topic_prefix: str = Field(
        "edge/gateways", description="MQTT topic prefix shared by the parent and its children"
    )
    children: dict[Ident, ChildGatewaySettings] = Field(
        default_factory=dict, description="parent: each child gateway by its child_id"
    )
    child_id: Ident | None = Field(None, description="child: its name at the parent")
    safe_budget_a: float | None = Field(
        None, ge=0, le=6300, description="child: per-phase current it uses without a budget"
    )
    report_interval_s: float = Field(
        1.0, gt=0, le=10, description="child: how often it reports its demand"
    )
    report_stale_s: float = Field(
        5.0, gt=0, le=120, description="parent: a child not heard from this long is silent"
    )
    clock_tolerance_s: float = Field(
        2.0, ge=0, le=60, description="how far the gateways' clocks may differ (both sides)"
    )

    @model_validator(mode="after")
    def _prefix(self) -> GatewaysSettings:
        if not _is_topic_prefix(self.topic_prefix):
            raise ValueError("topic_prefix must be topic levels without +, # or empty levels")
        return self


class SiteSettings(Section):
    id: Ident
    role: Literal["standalone", "parent", "child"] = Field(
        "standalone",
        description="parent: owns the grid meter and hands budgets to child gateways; child: "
        "runs its chargers within the budget its parent hands it",
    )
    gateways: GatewaysSettings = Field(default_factory=GatewaysSettings)
    time_zone: str = Field(
        "UTC", description="IANA zone of the site (Europe/Berlin): tariff times of day, receipts"
    )
    grid_limit_a: float = Field(gt=0, le=6300, description="grid connection limit per phase")
    phases: PhaseCount = 3
    nominal_voltage_v: float = Field(230.0, ge=100, le=480)
    power_limit_w: float | None = Field(None, gt=0, description="total import power limit")
    fallback_current_a: float = Field(
        6.0, ge=0, le=80, description="per-connector cap while the grid meter is stale or missing"
    )
    feeders: dict[Ident, FeederSettings] = Field(default_factory=dict)
    tick_s: float = Field(1.0, gt=0, le=10, description="control loop period between readings")
    shutdown_grace_s: float = Field(
        10.0,
        gt=0,
        le=60,
        description="each of the two shutdown phases (safe currents, then stopping services) "
        "may take this long; the unit's TimeoutStopSec allows twice the maximum",
    )
    grid_stale_s: float = Field(
        10.0, gt=0, le=300, description="an older grid reading counts as unknown (fallback)"
    )
    assumed_building_load_a: float = Field(
        0.0, ge=0, le=6300, description="per-phase building load assumed while the meter is stale"
    )
    rotation_interval_s: float = Field(
        900.0, ge=60, le=86400, description="paused sessions take turns at this interval"
    )
    increase_interval_s: float = Field(
        5.0, ge=1, le=600, description="at most one setpoint increase per connector per interval"
    )
    min_increase_a: float = Field(
        1.0, ge=0, le=10, description="smaller increases are held back (hysteresis)"
    )
    min_increase_hold_s: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="a smaller increase is given once the share has stayed above the offer "
        "this long (at the lowest it was meanwhile): at most one such raise per interval",
    )
    min_pause_s: float = Field(60.0, ge=0, le=3600, description="shortest pause (contactors)")
    min_charge_s: float = Field(60.0, ge=0, le=3600, description="shortest run (contactors)")
    current_resolution_a: float = Field(
        0.1, gt=0, le=1, description="offers are rounded down to this step"
    )
    decrease_settle_s: float = Field(
        5.0,
        ge=5,
        le=60,
        description="a lowered EV may draw its earlier offer this long after the charger's new "
        "signal (IEC 61851 gives EVs 5 s to follow): increases it would overload wait",
    )

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a time zone of the IANA database (e.g. Europe/Berlin)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def feeder_chain(self, feeder: str | None) -> list[str]:
        """``feeder`` and the configured feeders above it, nearest first (stops at a cycle or an
        unknown feeder, which the checks report)."""
        chain: list[str] = []
        while feeder is not None and feeder not in chain and feeder in self.feeders:
            chain.append(feeder)
            feeder = self.feeders[feeder].parent
        return chain

    @field_validator("fallback_current_a")
    @classmethod
    def _fallback_is_offerable(cls, value: float) -> float:
        if 0 < value < 6:
            raise ValueError("must be 0 or at least 6 A (the IEC 61851 minimum)")
        return value


class _BusCommon(Section):
    timeout_s: float = Field(1.0, gt=0, le=30)
    retries: int = Field(2, ge=0, le=10)
    min_gap_s: float = Field(0.0, ge=0, le=5, description="minimum silence between frames")
    record: Path | None = Field(
        None, description="append a trace of every request and reply to this file (64 MiB max)"
    )


class TcpBusSettings(_BusCommon):
    type: Literal["tcp"]
    host: str = Field(min_length=1)
    port: int = Field(502, ge=1, le=65535)


class RtuOverTcpBusSettings(_BusCommon):
    """An RS-485 line behind a transparent serial-to-Ethernet gateway (RTU frames over TCP)."""

    type: Literal["rtu_over_tcp"]
    host: str = Field(min_length=1)
    port: int = Field(502, ge=1, le=65535)
    baud: Baud = 9600
    turnaround_s: float = Field(0.0, ge=0, le=5)
    framing: Literal["rtu", "ascii"] = Field("rtu", description="ascii for Modbus ASCII devices")


class RtuBusSettings(_BusCommon):
    type: Literal["rtu"]
    device: str = Field(min_length=1)
    baud: Baud = 9600
    parity: Literal["N", "E", "O"] = "E"
    stop_bits: StopBits = 1
    data_bits: DataBits = 8
    turnaround_s: float = Field(0.0, ge=0, le=5, description="device answer delay")
    framing: Literal["rtu", "ascii"] = Field("rtu", description="ascii for Modbus ASCII devices")


BusSettings = Annotated[
    TcpBusSettings | RtuBusSettings | RtuOverTcpBusSettings, Field(discriminator="type")
]
PhaseRotation = Literal["L1L2L3", "L2L3L1", "L3L1L2", "L1", "L2", "L3"]


def _version_text(value: object) -> object:
    """``version: 2.1`` unquoted (or ``EDGE_CONTROLLER__OCPP__VERSION=2.1``) reads as a
    number: the version meant is its text."""
    if isinstance(value, list):
        return [str(v) if isinstance(v, float) else v for v in value]
    return str(value) if isinstance(value, float) else value


def _version_problem(version: OcppVersion | list[OcppVersion]) -> str | None:
    if isinstance(version, list) and not version:
        return "version: name at least one OCPP version"
    if isinstance(version, list) and len(set(version)) != len(version):
        return "version: each OCPP version at most once"
    return None


def _as_versions(version: OcppVersion | list[OcppVersion]) -> tuple[str, ...]:
    return tuple(version) if isinstance(version, list) else (version,)


class ChargerOcppSettings(Section):
    """What one charger's own OCPP identity does differently from the site's ``ocpp`` section
    (``ocpp.topology: per_charger`` only)."""

    # One version, or several in preference order, offered instead of the site's.
    version: OcppVersion | list[OcppVersion]

    _version_as_text = field_validator("version", mode="before")(_version_text)

    @model_validator(mode="after")
    def _check(self) -> ChargerOcppSettings:
        problem = _version_problem(self.version)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def versions(self) -> tuple[str, ...]:
        return _as_versions(self.version)


class ChargerSettings(Section):
    bus: Ident
    unit_id: int = Field(ge=0, le=255)
    profile: Ident
    profile_file: Path | None = Field(None, description="installer's own profile YAML")
    connectors: int = Field(1, ge=1, le=8)
    max_current_a: float = Field(32.0, ge=6, le=80)
    min_current_a: float = Field(6.0, ge=6, le=80)
    phase_rotation: PhaseRotation = Field(
        "L1L2L3", description="grid phases the charger's L1, L2, L3 land on; one: single-phase"
    )
    feeder: Ident | None = Field(None, description="sub-circuit it hangs on; none: the grid")
    priority: int = Field(0, ge=0, le=9, description="priority class: higher is served first")
    poll_interval_s: float = Field(1.0, gt=0, le=60)
    failsafe_current_a: float = Field(
        6.0,
        ge=0,
        le=80,
        description="current the charger falls back to when writes stop, while a session is "
        "authorised (or with free vend); 0 A otherwise",
    )
    failsafe_timeout_s: float = Field(
        15.0, ge=1, le=600, description="silence after which the charger falls back"
    )
    simulated: bool = False
    ocpp: ChargerOcppSettings | None = Field(
        None, description="this charger's own OCPP identity (topology per_charger): version"
    )


class MeterSettings(Section):
    bus: Ident
    unit_id: int = Field(ge=0, le=255)
    profile: Ident
    profile_file: Path | None = Field(None, description="installer's own profile YAML")
    role: Literal["grid", "connector", "feeder"] = "grid"
    connector: str | None = Field(None, description="charger id, or charger:n, for role connector")
    feeder: Ident | None = None
    phase_rotation: Literal["L1L2L3", "L2L3L1", "L3L1L2"] = "L1L2L3"
    poll_interval_s: float = Field(1.0, gt=0, le=60)
    max_age_s: float = Field(10.0, gt=0, le=300, description="older readings count as stale")
    simulated: bool = False


class ReaderSettings(Section):
    name_pattern: str = Field(min_length=1, description="regular expression on the PC/SC name")
    connectors: list[str] = Field(min_length=1)
    reverse_uid: bool = False
    uid_from_atr: bool = False
    plug_timeout_s: float = Field(60.0, gt=0, le=600)
    simulated: bool = False
    feedback: Literal["auto", "none", "acr122"] = Field(
        "auto", description="buzzer/LED: auto detects by reader name (ACR122U)"
    )

    @field_validator("name_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        import re

        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class PaymentTerminalSettings(Section):
    """A card terminal shared by one or more connectors."""

    protocol: Literal["zvt"] = "zvt"
    host: str = Field(min_length=1)
    port: int = Field(20007, ge=1, le=65535)
    password: SecretStr | None = Field(None, description="the terminal's six-digit password")
    password_file: Path | None = None
    connectors: list[str] = Field(min_length=1)
    currency: str = "EUR"
    pre_authorisation_amount: Decimal = Field(
        gt=0, description="reserved on the card, in the currency (never above the max cost)"
    )
    message_timeout_s: float = Field(60.0, gt=0, le=600)
    plug_timeout_s: float = Field(
        60.0, gt=0, le=600, description="a driver who paid first plugs the EV in within this"
    )
    end_of_day_at: dt_time | None = Field(
        None, description="site-local time the terminal closes its day (06 50); none: never"
    )
    auto_arm: bool = Field(
        True,
        description="arm by itself for the only EV waiting at its connectors (false: only "
        "when the driver presses Pay on the display)",
    )
    simulated: bool = False

    @model_validator(mode="after")
    def _check(self) -> PaymentTerminalSettings:
        self.password = resolve_secret(self.password, self.password_file, "password")
        if self.password is None or not re.fullmatch(r"\d{6}", self.password.get_secret_value()):
            raise ValueError("password: the terminal's password is six digits")
        if self.currency not in MINOR_UNITS:
            raise ValueError(f"currency: unknown code {self.currency!r} (ISO 4217, e.g. EUR)")
        quantum = Decimal(1).scaleb(-MINOR_UNITS[self.currency])
        if self.pre_authorisation_amount != self.pre_authorisation_amount.quantize(quantum):
            raise ValueError(
                f"pre_authorisation_amount: {self.pre_authorisation_amount} is not a whole "
                f"number of {self.currency} minor units"
            )
        return self


class WebPaymentSettings(Section):
    """Web payment by QR code: each connector's QR code opens ``url_template`` for it."""

    url_template: str | None = Field(
        None,
        max_length=400,
        description="placeholders {site} {connector} {identity} {evse} {nonce}",
    )
    key_file: Path | None = Field(
        None, description="secret the nonces are made from (default: in the state directory)"
    )
    timeout_s: float = Field(
        300.0, gt=0, le=3600, description="longest hold a web payment gets (its timeout caps it)"
    )

    @model_validator(mode="after")
    def _check(self) -> WebPaymentSettings:
        problem = None if self.url_template is None else template_problem(self.url_template)
        if problem is not None:
            raise ValueError(f"url_template: {problem}")
        return self


class PaymentsSettings(Section):
    terminals: dict[Ident, PaymentTerminalSettings] = Field(default_factory=dict)
    web: WebPaymentSettings = Field(default_factory=WebPaymentSettings)


class AuthorizationSettings(Section):
    """Who may charge, especially while the CSMS cannot be reached (OCPP 1.6 key in comments)."""

    local_list_enabled: bool = True  # LocalAuthListEnabled
    cache_enabled: bool = True  # AuthorizationCacheEnabled
    local_pre_authorize: bool = True  # LocalPreAuthorize
    offline_authorize_from_list: bool = True  # LocalAuthorizeOffline
    allow_unknown_offline: bool = False  # AllowOfflineTxForUnknownId
    unknown_offline_energy_cap_wh: int | None = Field(
        None, gt=0, description="stop sessions of unknown ids started offline at this energy"
    )
    free_vend_id_tag: str | None = Field(
        None, min_length=1, max_length=20, description="accept everyone, recorded as this id"
    )
    stop_on_invalid: bool = True  # StopTransactionOnInvalidId
    master_pass_group_id: str | None = Field(
        None,
        min_length=1,
        max_length=36,
        description="tokens of this group id (parent id tag) stop any session and start none "
        "(AuthCtrlr.MasterPassGroupId; a 2.x CSMS may change it)",
    )
    authorize_timeout_s: float = Field(5.0, gt=0, le=60, description="then count as offline")


class OcppSettings(Section):
    enabled: bool = False
    url: str | None = None
    identity: Ident | None = None
    topology: Literal["site", "per_charger"] = "site"
    # One version, or several in preference order: all are offered as websocket subprotocols
    # and the CSMS's choice decides.
    version: OcppVersion | list[OcppVersion] = "1.6"
    security_profile: SecurityProfile = 0
    password: SecretStr | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    heartbeat_interval_s: float = Field(300.0, ge=10, le=86400)
    call_timeout_s: float = Field(30.0, gt=0, le=300)
    authorization: AuthorizationSettings = Field(default_factory=AuthorizationSettings)
    charge_point_vendor: str = Field("edge_controller", min_length=1, max_length=20)
    charge_point_model: str = Field("site", min_length=1, max_length=20)
    firmware_version: str | None = Field(None, max_length=50)
    ping_interval_s: float = Field(20.0, gt=0, le=600, description="websocket ping period")
    dead_timeout_s: float = Field(20.0, gt=0, le=600, description="no pong within → reconnect")
    reconnect_min_s: float = Field(1.0, gt=0, le=600)
    reconnect_max_s: float = Field(120.0, gt=0, le=3600)
    # Fits a SendLocalList of the whole local list (uplink.frames.full_local_list_bytes).
    max_frame_bytes: int = Field(2_097_152, ge=1024, le=16_777_216)
    transaction_message_attempts: int = Field(3, ge=1, le=100)
    transaction_message_retry_interval_s: float = Field(30.0, gt=0, le=3600)
    meter_value_sample_interval_s: float = Field(60.0, ge=0, le=86400, description="0 = off")
    clock_aligned_data_interval_s: float = Field(900.0, ge=0, le=86400, description="0 = off")
    # Measurands by their names in the connection's protocol; None: the uplink's defaults
    # (the energy register and the power during a session, the register when clock-aligned).
    meter_values_sampled_data: list[str] | None = None
    meter_values_aligned_data: list[str] | None = None

    _version_as_text = field_validator("version", mode="before")(_version_text)

    @model_validator(mode="after")
    def _secrets_and_url(self) -> OcppSettings:
        self.password = resolve_secret(self.password, self.password_file, "password")
        if self.enabled and not self.url:
            raise ValueError("url is required when enabled is true")
        if self.security_profile in (1, 2):
            key = self.password.get_secret_value().encode() if self.password else b""
            if not 16 <= len(key) <= 20:
                raise ValueError("security profiles 1 and 2 need a 16-20 byte password")
        if self.security_profile >= 2 and self.url and not self.url.startswith("wss://"):
            raise ValueError("security profiles 2 and 3 need a wss:// url")
        if self.security_profile == 3 and not (self.client_cert_file and self.client_key_file):
            raise ValueError("security profile 3 needs client_cert_file and client_key_file")
        self._check_tls_files()
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        problem = _version_problem(self.version)
        if problem is not None:
            raise ValueError(problem)
        return self

    def _check_tls_files(self) -> None:
        """Files named are read now: a wrong one stops the start, not the first connect."""
        if self.ca_file is None and self.client_cert_file is None and self.client_key_file is None:
            return  # the cryptography library (~10 MB resident) is not even imported
        from edge_controller.config import tls_files

        if self.ca_file is not None:
            tls_files.certificates(self.ca_file, "ca_file")
        if self.client_cert_file and self.client_key_file:
            tls_files.check_client_pair(self.client_cert_file, self.client_key_file)
        elif self.client_cert_file or self.client_key_file:
            raise ValueError("client_cert_file and client_key_file go together")

    @property
    def versions(self) -> tuple[str, ...]:
        """The OCPP versions offered, in preference order."""
        return _as_versions(self.version)


MqttCommand = Literal[
    "site_limit", "connector_limit", "connector_enabled", "session_start", "session_stop", "pay"
]


MIN_MQTT_STATE_TOPIC_CAP = 1024  # a small site's cap: room for connectors added later


# A gateway's cap on the wait between reconnects to the broker: after an outage it is back
# within this of the broker (2.5-5 s with the jitter), a fraction of even the shortest lease's
# renewal on the default 30 s (10 s); for a parent and its few children, one TCP connect each
# per 5 s to a broker on the site's LAN is nothing.
GATEWAY_RECONNECT_MAX_S = 5.0


class MqttSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    prefix: str | None = Field(None, description="topic prefix; default edge/<site id>")
    tls: bool = False
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    ha_discovery: bool = True
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    client_id: str | None = Field(None, min_length=1, max_length=64)
    keepalive_s: int = Field(30, ge=5, le=3600)
    qos: Literal[0, 1, 2] = 1
    retain: bool = True
    max_queued_events: int = Field(1000, ge=1, le=100_000, description="oldest dropped beyond")
    max_queued_bytes: int = Field(1_000_000, ge=10_000, le=100_000_000)
    max_state_topics: int | None = Field(
        None,
        ge=16,
        le=1_000_000,
        description="distinct retained state topics kept; default: twice the site's own, "
        f"at least {MIN_MQTT_STATE_TOPIC_CAP}",
    )
    reconnect_min_s: float = Field(1.0, gt=0, le=60)
    reconnect_max_s: float = Field(60.0, gt=0, le=3600)
    publish_timeout_s: float = Field(10.0, gt=0, le=300)
    connect_timeout_s: float = Field(
        5.0, gt=0, le=300, description="from a connection made to the broker's answer"
    )
    command_timeout_s: float = Field(10.0, gt=0, le=300)
    energy_step_wh: float = Field(
        10.0, ge=0, le=100_000, description="session energy published when it moved this far"
    )
    energy_every_s: float = Field(
        10.0, ge=0, le=3600, description="or when it moved and was last published this long ago"
    )
    allowed_commands: list[MqttCommand] = Field(
        default_factory=list,
        description="commands taken on MQTT (none: read-only); starts are authorised like cards",
    )

    @model_validator(mode="after")
    def _secrets(self) -> MqttSettings:
        self.password = resolve_secret(self.password, self.password_file, "password")
        if self.prefix is not None and not _is_topic_prefix(self.prefix):
            raise ValueError("prefix must be non-empty topic levels without +, # or empty levels")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("give client_cert_file and client_key_file together")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if len(set(self.allowed_commands)) != len(self.allowed_commands):
            raise ValueError("allowed_commands names a command twice")
        return self


def _is_topic_prefix(prefix: str) -> bool:
    levels = prefix.split("/")
    return all(level and "+" not in level and "#" not in level for level in levels)


class SessionSettings(Section):
    """How sessions start; meter sampling intervals are the ``ocpp`` section's."""

    plug_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="after a card or command, plug the EV within this"
    )
    auth_timeout_s: float | None = Field(
        None, gt=0, le=86400, description="after plugging, present a card within this (none: wait)"
    )
    meter_timeout_s: float = Field(2.0, gt=0, le=30)


class StorageSettings(Section):
    state_dir: Path = Path("/var/lib/edge-controller")
    database: str = Field("edge.db", min_length=1)
    outbox_retention_days: float = Field(7.0, gt=0, le=3650)
    outbox_capacity: int = Field(
        600_000, ge=1000, le=10_000_000, description="pending messages before samples are thinned"
    )
    sessions: SessionSettings = Field(default_factory=SessionSettings)


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


PASSWORD_HASH_PATTERN = r"^scrypt\$[0-9]+\$[0-9]+\$[0-9]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$"
MIN_TOKEN_CHARS = 24  # an API token shorter than this is guessable


def read_password_hash(path: Path) -> SecretStr:
    """A password hash from ``path`` (one line, ``edge-controller web-password`` writes it)."""
    import re

    value = read_secret_file(path)
    if not re.fullmatch(PASSWORD_HASH_PATTERN, value.get_secret_value()):
        raise ValueError(
            f"{path} does not hold a password hash (scrypt$n$r$p$salt$hash); "
            "make one with edge-controller web-password"
        )
    return value


class WebAccountSettings(Section):
    """An operator console login. The password hash is read from a file, never the YAML."""

    role: Literal["viewer", "operator"] = Field(
        "viewer", description="viewer: looks only; operator: also limits and enable/disable"
    )
    password_hash_file: Path = Field(description="file with the hash (web-password command)")
    _hash: SecretStr = PrivateAttr(default_factory=lambda: SecretStr(""))

    @model_validator(mode="after")
    def _read_hash(self) -> WebAccountSettings:
        self._hash = read_password_hash(self.password_hash_file)
        return self

    @property
    def password_hash(self) -> SecretStr:
        return self._hash


# "problems": acknowledge, resolve and note on problem reports (/api/v1/problems/<ref>/...)
WebCommand = Literal[
    "site_limit",
    "connector_limit",
    "connector_enabled",
    "session_start",
    "session_stop",
    "pay",
    "problems",
]


class WebTokenSettings(Section):
    """A REST API token (sent as ``Authorization: Bearer <token>``), read from a file."""

    token_file: Path = Field(description="file with the token (at least 24 characters)")
    allowed_commands: list[WebCommand] = Field(
        default_factory=list,
        description="commands this token may send, by their routes or /api/v1/commands/<name>"
        " (none: read-only); starts are authorised like cards",
    )
    _token: SecretStr = PrivateAttr(default_factory=lambda: SecretStr(""))

    @model_validator(mode="after")
    def _read_token(self) -> WebTokenSettings:
        token = read_secret_file(self.token_file)
        text = token.get_secret_value()
        if len(text) < MIN_TOKEN_CHARS or any(c.isspace() for c in text):
            raise ValueError(
                f"{self.token_file}: a token needs at least {MIN_TOKEN_CHARS} characters "
                "and no spaces"
            )
        self._token = token
        if len(set(self.allowed_commands)) != len(self.allowed_commands):
            raise ValueError("allowed_commands names a command twice")
        return self

    @property
    def token(self) -> SecretStr:
        return self._token


class WebSettings(Section):
    """The site's HTTP faces: the display for drivers, the operator console, REST and metrics."""

    enabled: bool = False
    host: str = Field(
        "127.0.0.1", min_length=1, description="address to listen on (a site: its LAN address)"
    )
    port: int = Field(8080, ge=1, le=65535)
    tls_cert_file: Path | None = Field(None, description="PEM certificate (chain): serve HTTPS")
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file")
    accounts: dict[Ident, WebAccountSettings] = Field(
        default_factory=dict, description="console logins by user name"
    )
    api_tokens: dict[Ident, WebTokenSettings] = Field(
        default_factory=dict, description="REST API tokens by name (the name is logged)"
    )
    push_interval_s: float = Field(
        1.0, ge=0.2, le=2.0, description="the display's live updates come at least this often"
    )
    max_body_bytes: int = Field(
        16384, ge=1024, le=1_048_576, description="larger request bodies are refused (413)"
    )
    reports_per_hour: int = Field(
        10, ge=1, le=1000, description="problem reports taken from one client address per hour"
    )
    fault_report_after_s: float = Field(
        60.0, ge=1.0, le=86400.0, description="a device silent this long raises a problem report"
    )
    requests_per_minute: int = Field(
        600, ge=10, le=100_000, description="requests taken from one client address per minute"
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> WebSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("give tls_cert_file and tls_key_file together")
        for path in (self.tls_cert_file, self.tls_key_file):
            if path is not None and not Path(os.path.expandvars(str(path))).is_file():
                raise ValueError(f"cannot read TLS file {path}")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None


class SimEvProfileSettings(Section):
    """A kind of vehicle the simulator can plug in."""

    phases: Literal[1, 2, 3] = Field(3, description="phases the on-board charger uses")
    max_current_a: float = Field(16.0, gt=0, le=80, description="on-board charger limit per phase")
    battery_kwh: float = Field(60.0, gt=0, le=500, description="usable battery capacity")
    soc_percent: float = Field(50.0, ge=0, le=100, description="state of charge when plugged in")
    target_soc_percent: float = Field(
        100.0, gt=0, le=100, description="the EV stops charging (state B) here"
    )
    taper_start_soc_percent: float = Field(80.0, gt=0, le=100, description="current tapers above")
    response_delay_s: float = Field(
        2.0, ge=0, le=5, description="time to follow a new offered current (IEC 61851: <= 5 s)"
    )


class SimEvPauseSettings(Section):
    """The EV stops drawing on its own at ``pause_s`` (its timer, a full battery) and asks
    again at ``resume_s``; ``state``: the pilot state it shows meanwhile."""

    pause_s: float = Field(ge=0, description="seconds after the simulator starts")
    resume_s: float | None = Field(None, gt=0, description="seconds after start; none: stays")
    state: Literal["B", "C"] = Field(
        "B", description="B: it opens S2; C: it keeps asking and draws nothing"
    )


class SimEvArrivalSettings(Section):
    """One scripted visit: an EV plugs in ``arrive_s`` after start and leaves at ``leave_s``."""

    connector: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:[1-8]$", description="charger id:n"
    )
    profile: Ident = Field(description="a key of simulation.ev_profiles")
    arrive_s: float = Field(0.0, ge=0, description="seconds after the simulator starts")
    leave_s: float | None = Field(None, gt=0, description="seconds after start; none: stays")
    pauses: list[SimEvPauseSettings] = Field(
        default_factory=list, description="the EV's own pauses while plugged, in time order"
    )

    @model_validator(mode="after")
    def _pauses_within_the_visit(self) -> SimEvArrivalSettings:
        end_s = self.leave_s if self.leave_s is not None else float("inf")
        free_from_s = self.arrive_s
        for pause in self.pauses:
            resume_s = pause.resume_s if pause.resume_s is not None else end_s
            if not free_from_s <= pause.pause_s < resume_s <= end_s:
                raise ValueError(
                    f"ev_script {self.connector}: each pause must start at or after arrive_s "
                    "and the previous resume_s, and resume after it starts, by leave_s"
                )
            free_from_s = resume_s
        return self


class SimBaseLoadStepSettings(Section):
    """From time of day ``at`` (local "HH:MM") on, the building draws ``current_a`` per phase."""

    at: str = Field("00:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="local HH:MM")
    current_a: tuple[float, float, float] = Field(
        (0.0, 0.0, 0.0), description="L1, L2, L3 in A; negative = export (e.g. PV)"
    )


class SimReplaySettings(Section):
    """A recorded trace served as a device (edge_controller/drivers/modbus/trace.py)."""

    bus: Ident
    unit_id: int = Field(ge=0, le=255, description="unit id it answers on")
    trace: Path
    trace_unit: int | None = Field(
        None, ge=0, le=255, description="the unit id in the trace (default: unit_id)"
    )


class SimulationSettings(Section):
    enabled: bool = Field(False, description="informational; simulate serves simulated: true")
    control_host: str = Field("127.0.0.1", description="control interface address (loopback)")
    control_port: int = Field(
        8750, ge=0, le=65535, description="control interface port (0: pick a free port)"
    )
    tick_s: float = Field(0.2, gt=0, le=5, description="physics step interval")
    voltage_v: float | None = Field(
        None, ge=100, le=480, description="phase voltage; default site.nominal_voltage_v"
    )
    base_load: list[SimBaseLoadStepSettings] = Field(
        default_factory=list, description="building load by time of day (empty: none)"
    )
    ev_profiles: dict[Ident, SimEvProfileSettings] = Field(
        default_factory=dict, description="named EV kinds for ev_script and the control API"
    )
    ev_script: list[SimEvArrivalSettings] = Field(
        default_factory=list, description="scripted EV arrivals and departures"
    )
    startup_current_a: float = Field(
        0.0, ge=0, le=80, description="current a charger offers after power-up before any write"
    )
    wire_timing: bool = Field(
        False, description="delay RTU answers by their true wire time (11 bits/char + 3.5 chars)"
    )
    pty_suffix: str = Field(
        ".sim", min_length=1, description="RTU bus device PATH is served on PATH + suffix"
    )
    socat_path: str = Field("socat", min_length=1, description="socat binary for RTU pty pairs")
    replay: list[SimReplaySettings] = Field(
        default_factory=list, description="recorded traces served as devices"
    )
    device_baud: dict[Ident, Baud] = Field(
        default_factory=dict,
        description="baud a simulated device on an RTU line listens at (default: the bus's); "
        "it answers only requests sent at that baud, as on a real line",
    )

    @model_validator(mode="after")
    def _script_profiles_exist(self) -> SimulationSettings:
        for arrival in self.ev_script:
            if arrival.profile not in self.ev_profiles:
                raise ValueError(f"ev_script profile {arrival.profile!r} is not in ev_profiles")
            if arrival.leave_s is not None and arrival.leave_s <= arrival.arrive_s:
                raise ValueError(f"ev_script {arrival.connector}: leave_s must follow arrive_s")
        return self


class Settings(BaseSettings):
    """The whole site config. YAML is the base; ``EDGE_CONTROLLER__SECTION__KEY`` overrides it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
        allow_inf_nan=False,
    )

    site: SiteSettings
    buses: dict[Ident, BusSettings] = Field(default_factory=dict)
    chargers: dict[Ident, ChargerSettings] = Field(default_factory=dict)
    meters: dict[Ident, MeterSettings] = Field(default_factory=dict)
    readers: dict[Ident, ReaderSettings] = Field(default_factory=dict)
    ocpp: OcppSettings = Field(default_factory=OcppSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    tariffs: TariffsSettings = Field(default_factory=TariffsSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    payments: PaymentsSettings = Field(default_factory=PaymentsSettings)

    @model_validator(mode="after")
    def _gateway_reconnects(self) -> Settings:
        """A parent or child gateway retries the broker within ``GATEWAY_RECONNECT_MAX_S``
        unless the installer set ``mqtt.reconnect_max_s``: with the general 60 s, the
        gateways stayed on their safe budgets for up to a minute after the broker was back."""
        mqtt = self.mqtt
        if self.site.role != "standalone" and "reconnect_max_s" not in mqtt.model_fields_set:
            most_s = max(GATEWAY_RECONNECT_MAX_S, mqtt.reconnect_min_s)
            mqtt.reconnect_max_s = most_s
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first: it overrides the YAML, which arrives as init arguments.
        return (env_settings, init_settings)

    def for_daemon(self) -> Settings:
        """These settings without the simulator's scripted EV visits: they are the simulator's
        alone (a generated 1,000-connector site has an entry per connector, 0.48 of its
        1.88 MB of parsed settings), so the daemon neither keeps them nor reads their change as
        one it must restart for."""
        if not self.simulation.ev_script:
            return self
        simulation = self.simulation.model_copy(update={"ev_script": []})
        return self.model_copy(update={"simulation": simulation})

    def secrets(self) -> list[str]:
        """Every secret value, so the log can redact them wherever they appear."""
        values: list[Any] = [self.ocpp.password, self.mqtt.password]
        values += [t.token for t in self.web.api_tokens.values()]
        values += [a.password_hash for a in self.web.accounts.values()]
        values += [t.password for t in self.payments.terminals.values()]
        return [
            v.get_secret_value()
            for v in values
            if isinstance(v, SecretStr) and v.get_secret_value()
        ]

    def ocpp_versions(self) -> dict[str, tuple[str, ...]]:
        """The OCPP versions each identity offers, in preference order: with ``per_charger``
        a charger's own ``ocpp.version`` where it has one, else the site's."""
        site = self.ocpp.versions
        if self.ocpp.topology == "site":
            return {self.ocpp.identity or self.site.id: site}
        return {
            cid: charger.ocpp.versions if charger.ocpp is not None else site
            for cid, charger in self.chargers.items()
        }

    @property
    def database_path(self) -> Path:
        return self.storage.state_dir / self.storage.database

    @property
    def mqtt_prefix(self) -> str:
        return self.mqtt.prefix or f"edge/{self.site.id}"

    @property
    def mqtt_state_topics(self) -> int:
        """The retained state topics the site publishes: the site's, then one per connector
        and one per device (charger, meter, reader), and with ``driver_notes`` the display
        messages' and web payment's. Home Assistant's discovery configs are a fixed set on top
        (the telemetry service adds them to the cap)."""
        connectors = sum(c.connectors for c in self.chargers.values())
        own = 1 + connectors + len(self.chargers) + len(self.meters) + len(self.readers)
        # What a CSMS or the web payment set for drivers: the site's display messages, and
        # per connector its messages and its web payment.
        return own + (1 + 2 * connectors if self.driver_notes else 0)

    @property
    def driver_notes(self) -> bool:
        """Whether the site publishes display messages and web payment state (a CSMS can set
        them, or web payment by QR code is configured)."""
        return self.ocpp.enabled or self.payments.web.url_template is not None

    @property
    def mqtt_state_topic_cap(self) -> int:
        """``mqtt.max_state_topics``, or room for twice the site's own state topics."""
        if self.mqtt.max_state_topics is not None:
            return self.mqtt.max_state_topics
        return max(MIN_MQTT_STATE_TOPIC_CAP, 2 * self.mqtt_state_topics)
