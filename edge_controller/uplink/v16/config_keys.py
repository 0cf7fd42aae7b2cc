"""OCPP 1.6 configuration keys this charge point supports, with validation. Pure.

Only keys with a real effect are listed; any other key is reported unknown (GetConfiguration)
or NotSupported (ChangeConfiguration). Read-only keys are Rejected on change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_controller.config.settings import OcppSettings
from edge_controller.domain.commands import ChangeSessionRules
from edge_controller.domain.web_payment import template_problem
from edge_controller.uplink.v16 import costmsg

MEASURANDS = frozenset(
    {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Current.Offered",
        "Voltage",
        "SoC",
    }
)
MAX_MEASURANDS = len(MEASURANDS)
ENERGY_REGISTER = "Energy.Active.Import.Register"
# Wiring of a connector (grid phases its L1, L2, L3 land on) as OCPP 1.6 names it.
PHASE_ROTATIONS = {"L1L2L3": "RST", "L2L3L1": "STR", "L3L1L2": "TRS"}
SESSION_RULE_KEYS = {
    "LocalAuthListEnabled": "local_list_enabled",
    "AuthorizationCacheEnabled": "cache_enabled",
    "LocalPreAuthorize": "local_pre_authorize",
    "LocalAuthorizeOffline": "offline_authorize_from_list",
    "AllowOfflineTxForUnknownId": "allow_unknown_offline",
    "StopTransactionOnInvalidId": "stop_on_invalid",
}
"""Boolean OCPP keys of the session side and the ``ChangeSessionRules`` field each sets."""
# A 2.x variable without a 1.6 key (AuthCtrlr.MasterPassGroupId): kept in the same store, so
# it is the site's and survives restarts; empty: no master pass group.
MASTER_PASS_KEY = "AuthCtrlr.MasterPassGroupId"
MASTER_PASS_MAX_CHARS = 36  # an IdTokenType's idToken in 2.0.1
# 2.x variables as well: where a transaction starts and ends (``device_model.tx_points``).
TX_START_POINT_KEY, TX_STOP_POINT_KEY = "TxCtrlr.TxStartPoint", "TxCtrlr.TxStopPoint"
SESSION_KEYS = frozenset(
    {*SESSION_RULE_KEYS, "ConnectionTimeOut", "StopTxnSampledData", MASTER_PASS_KEY,
     TX_START_POINT_KEY, TX_STOP_POINT_KEY}
)  # fmt: skip
"""Keys the session side applies (``session_rules``): the same for every identity of a site."""
GET_CONFIGURATION_MAX_KEYS = 32
WEB_PAYMENT_URL = "WebPaymentUrl"


def _is_uint(value: str) -> bool:
    return value.isdigit() and len(value) <= 9


def _is_bool(value: str) -> bool:
    return value.lower() in ("true", "false")


def _is_measurand_list(value: str) -> bool:
    items = [v.strip() for v in value.split(",")] if value.strip() else []
    return len(items) <= MAX_MEASURANDS and all(item in MEASURANDS for item in items)


def _is_stop_measurand_list(value: str) -> bool:
    """StopTransaction carries the energy register only (its value at begin and end)."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    return all(item == ENERGY_REGISTER for item in items) and len(items) <= 1


@dataclass(frozen=True, slots=True)
class KeySpec:
    readonly: bool
    valid: Callable[[str], bool] = lambda _v: True


SPECS: Mapping[str, KeySpec] = {
    "HeartbeatInterval": KeySpec(False, _is_uint),
    "MeterValueSampleInterval": KeySpec(False, _is_uint),
    "ClockAlignedDataInterval": KeySpec(False, _is_uint),
    "MeterValuesSampledData": KeySpec(False, _is_measurand_list),
    "MeterValuesAlignedData": KeySpec(False, _is_measurand_list),
    "TransactionMessageAttempts": KeySpec(False, lambda v: _is_uint(v) and int(v) >= 1),
    "TransactionMessageRetryInterval": KeySpec(False, _is_uint),
    "AuthorizeRemoteTxRequests": KeySpec(False, _is_bool),
    "WebSocketPingInterval": KeySpec(False, lambda v: _is_uint(v) and int(v) >= 1),
    # Session rules: the session side applies them (``session_rules``).
    "LocalAuthListEnabled": KeySpec(False, _is_bool),
    "AuthorizationCacheEnabled": KeySpec(False, _is_bool),
    "LocalPreAuthorize": KeySpec(False, _is_bool),
    "LocalAuthorizeOffline": KeySpec(False, _is_bool),
    "AllowOfflineTxForUnknownId": KeySpec(False, _is_bool),
    "StopTransactionOnInvalidId": KeySpec(False, _is_bool),
    "ConnectionTimeOut": KeySpec(False, lambda v: _is_uint(v) and 1 <= int(v) <= 600),
    "StopTxnSampledData": KeySpec(False, _is_stop_measurand_list),
    "StopTxnSampledDataMaxLength": KeySpec(True),
    "StopTxnAlignedData": KeySpec(True),  # aligned values already go as MeterValues
    "StopTxnAlignedDataMaxLength": KeySpec(True),
    "ConnectorPhaseRotation": KeySpec(True),  # the wiring the installer configured
    "ResetRetries": KeySpec(True),  # a reset restarts the process; there is nothing to retry
    "NumberOfConnectors": KeySpec(True),
    "SupportedFeatureProfiles": KeySpec(True),
    "GetConfigurationMaxKeys": KeySpec(True),
    "MeterValuesSampledDataMaxLength": KeySpec(True),
    "UnlockConnectorOnEVSideDisconnect": KeySpec(True),
    "StopTransactionOnEVSideDisconnect": KeySpec(True),
    "ChargeProfileMaxStackLevel": KeySpec(True),
    "ChargingScheduleAllowedChargingRateUnit": KeySpec(True),
    "ChargingScheduleMaxPeriods": KeySpec(True),
    "MaxChargingProfilesInstalled": KeySpec(True),
    "LocalAuthListMaxLength": KeySpec(True),
    "SendLocalListMaxLength": KeySpec(True),
    "ReserveConnectorZeroSupported": KeySpec(True),
    # The Open Charge Alliance's pricing extension (``costmsg``): a CSMS's default price.
    "CustomDisplayCostAndPrice": KeySpec(True),
    "SupportedLanguages": KeySpec(True),
    costmsg.DEFAULT_PRICE: KeySpec(False, costmsg.valid_default_price),
    # The site's own key: the payment page a connector's QR code opens (``domain.web_payment``
    # placeholders); empty: the site's configured template.
    WEB_PAYMENT_URL: KeySpec(False, lambda v: v == "" or template_problem(v) is None),
    **{key: KeySpec(False, costmsg.valid_price_text) for key in costmsg.PRICE_TEXT_KEYS},
}


def defaults(
    settings: OcppSettings,
    connectors: int,
    *,
    smart: bool = False,
    local_list: bool = False,
    connection_timeout_s: float = 60.0,
    phase_rotation: str = "",
) -> dict[str, str]:
    """Initial values from the site config (the CSMS may change the writable ones)."""
    return _core_defaults(settings, connectors, smart, local_list) | _session_defaults(
        settings, connection_timeout_s, phase_rotation
    )


def _session_defaults(
    settings: OcppSettings, connection_timeout_s: float, phase_rotation: str
) -> dict[str, str]:
    auth = settings.authorization
    flags = {key: getattr(auth, name) for key, name in SESSION_RULE_KEYS.items()}
    return {key: "true" if on else "false" for key, on in flags.items()} | {
        "ConnectionTimeOut": str(max(1, round(connection_timeout_s))),
        "StopTxnSampledData": ENERGY_REGISTER,
        "StopTxnSampledDataMaxLength": "1",
        "StopTxnAlignedData": "",
        "StopTxnAlignedDataMaxLength": "0",
        "ConnectorPhaseRotation": phase_rotation,
        "ResetRetries": "0",
        MASTER_PASS_KEY: auth.master_pass_group_id or "",
    }


# the measurands reported when the settings name none
SAMPLED_DATA = ("Energy.Active.Import.Register", "Power.Active.Import")
ALIGNED_DATA = ("Energy.Active.Import.Register",)


def _core_defaults(
    settings: OcppSettings, connectors: int, smart: bool, local_list: bool
) -> dict[str, str]:
    return {
        "HeartbeatInterval": str(int(settings.heartbeat_interval_s)),
        "MeterValueSampleInterval": str(int(settings.meter_value_sample_interval_s)),
        "ClockAlignedDataInterval": str(int(settings.clock_aligned_data_interval_s)),
        "MeterValuesSampledData": ",".join(settings.meter_values_sampled_data or SAMPLED_DATA),
        "MeterValuesAlignedData": ",".join(settings.meter_values_aligned_data or ALIGNED_DATA),
        "TransactionMessageAttempts": str(settings.transaction_message_attempts),
        "TransactionMessageRetryInterval": str(int(settings.transaction_message_retry_interval_s)),
        "AuthorizeRemoteTxRequests": "false",
        "WebSocketPingInterval": str(int(settings.ping_interval_s)),
        "NumberOfConnectors": str(connectors),
        "SupportedFeatureProfiles": ",".join(
            ["Core", "RemoteTrigger", "Reservation"]
            + (["SmartCharging"] if smart else [])
            + (["LocalAuthListManagement"] if local_list else [])
        ),
        "GetConfigurationMaxKeys": str(GET_CONFIGURATION_MAX_KEYS),
        "MeterValuesSampledDataMaxLength": str(MAX_MEASURANDS),
        "UnlockConnectorOnEVSideDisconnect": "true",
        "StopTransactionOnEVSideDisconnect": "true",
        "ChargeProfileMaxStackLevel": "99",
        "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
        "ChargingScheduleMaxPeriods": "48",
        "MaxChargingProfilesInstalled": "32",
        "LocalAuthListMaxLength": "10000",
        "SendLocalListMaxLength": "500",
        "ReserveConnectorZeroSupported": "true",
        "CustomDisplayCostAndPrice": "true",
        "SupportedLanguages": ",".join(costmsg.PRICE_TEXT_LANGUAGES),
        costmsg.DEFAULT_PRICE: "",
        WEB_PAYMENT_URL: "",
        **dict.fromkeys(costmsg.PRICE_TEXT_KEYS, ""),
    }


def phase_rotation(rotations: list[str]) -> str:
    """ConnectorPhaseRotation for connectors 1..N given each one's configured wiring."""
    named = (PHASE_ROTATIONS.get(r, "NotApplicable" if r else "Unknown") for r in rotations)
    return ",".join(f"{n}.{name}" for n, name in enumerate(named, start=1))


def session_rules(values: Mapping[str, str]) -> ChangeSessionRules:
    """The session-side rules the stored key values stand for."""
    flags: dict[str, Any] = {  # every name a bool field of ChangeSessionRules
        name: values[key].lower() == "true"
        for key, name in SESSION_RULE_KEYS.items()
        if _is_bool(values.get(key, ""))
    }
    timeout = values.get("ConnectionTimeOut", "")
    stop_data = values.get("StopTxnSampledData")
    start = _points(values.get(TX_START_POINT_KEY))
    stop = _points(values.get(TX_STOP_POINT_KEY))
    return ChangeSessionRules(
        **flags,
        master_pass_group_id=values.get(MASTER_PASS_KEY),
        plug_timeout_s=float(timeout) if _is_uint(timeout) and int(timeout) >= 1 else None,
        stop_transaction_data=None if stop_data is None else ENERGY_REGISTER in stop_data,
        start_at_plug=None if start is None else "EVConnected" in start,
        start_at_authorization=None if start is None else "Authorized" in start,
        stop_at_energy_end=None if stop is None else "EnergyTransfer" in stop,
        stop_only_at_unplug=None if stop is None else stop == {"EVConnected"},
        stop_only_at_deauthorization=None if stop is None else stop == {"Authorized"},
    )


def _points(value: str | None) -> set[str] | None:
    """A TxStartPoint list starts a transaction at the first of its points (EVConnected: the
    plug-in, Authorized: the authorisation), a TxStopPoint list ends it at the first one lost
    (EnergyTransfer: the EV stops drawing energy); the lists the site refuses never get
    stored. None: not set."""
    return None if value is None else {item.strip() for item in value.split(",")}


def change_status(key: str, value: str) -> str:
    """The ChangeConfiguration status for setting ``key`` to ``value``."""
    spec = SPECS.get(key)
    if spec is None:
        return "NotSupported"
    if spec.readonly or not spec.valid(value):
        return "Rejected"
    return "Accepted"
