"""OCPP 1.6 configuration keys this charge point supports, with validation. Pure.

Only keys with a real effect are listed; any other key is reported unknown (GetConfiguration)
or NotSupported (ChangeConfiguration). Read-only keys are Rejected on change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edge_controller.settings import OcppSettings

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
GET_CONFIGURATION_MAX_KEYS = 32


def _is_uint(value: str) -> bool:
    return value.isdigit() and len(value) <= 9


def _is_bool(value: str) -> bool:
    return value.lower() in ("true", "false")


def _is_measurand_list(value: str) -> bool:
    items = [v.strip() for v in value.split(",")] if value.strip() else []
    return len(items) <= MAX_MEASURANDS and all(item in MEASURANDS for item in items)


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
}


def defaults(
    settings: OcppSettings, connectors: int, *, smart: bool = False, local_list: bool = False
) -> dict[str, str]:
    """Initial values from the site config (the CSMS may change the writable ones)."""
    return {
        "HeartbeatInterval": str(int(settings.heartbeat_interval_s)),
        "MeterValueSampleInterval": str(int(settings.meter_value_sample_interval_s)),
        "ClockAlignedDataInterval": str(int(settings.clock_aligned_data_interval_s)),
        "MeterValuesSampledData": ",".join(settings.meter_values_sampled_data),
        "MeterValuesAlignedData": ",".join(settings.meter_values_aligned_data),
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
        "ReserveConnectorZeroSupported": "false",
    }


def change_status(key: str, value: str) -> str:
    """The ChangeConfiguration status for setting ``key`` to ``value``."""
    spec = SPECS.get(key)
    if spec is None:
        return "NotSupported"
    if spec.readonly or not spec.valid(value):
        return "Rejected"
    return "Accepted"
