"""Which components and variables the station reports, their types, mutability and limits. Pure.

A variable with a 1.6 key stores its Actual value under that key: both protocols read and
write the same text ("true"/"false", integers, comma-separated lists are spelt alike). A
read-only variable without a key has a fixed value the site's set-up gives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edge_controller.config.settings import OcppSettings
from edge_controller.domain.display_messages import PRIORITY_ORDER
from edge_controller.uplink.device_model.tx_points import (
    START_POINT_DEFAULT,
    STOP_POINT_DEFAULT,
    TX_POINTS,
)
from edge_controller.uplink.ports import Station
from edge_controller.uplink.v16.config_keys import (
    MASTER_PASS_KEY,
    MASTER_PASS_MAX_CHARS,
    MEASURANDS,
    TX_START_POINT_KEY,
    TX_STOP_POINT_KEY,
)
from edge_controller.uplink.v201.tariff_wire import MAX_ELEMENTS as MAX_TARIFF_ELEMENTS

READ_ONLY, READ_WRITE, WRITE_ONLY = "ReadOnly", "ReadWrite", "WriteOnly"
# 2.x-only store keys (no 1.6 key holds them).
ORGANIZATION_KEY = "SecurityCtrlr.OrganizationName"  # the O of the station's CSRs
# Failed connects in a row with a network profile before the next by priority is tried.
CONNECTION_ATTEMPTS_KEY = "OCPPCommCtrlr.NetworkProfileConnectionAttempts"
# Not a variable: the log upload the CSMS was not yet told the end of (``v201.logs``).
LOG_UPLOAD_KEY = "GetLog.Pending"
# Read and set through the network profiles (``uplink.network_profiles``), not the store.
NETWORK_PRIORITY = ("OCPPCommCtrlr", "NetworkConfigurationPriority")
# Write-only: kept in the key file 1.6's AuthorizationKey uses, never in the store.
BASIC_AUTH_PASSWORD = ("SecurityCtrlr", "BasicAuthPassword")
BOOLEAN, INTEGER, DECIMAL, STRING = "boolean", "integer", "decimal", "string"
OPTION_LIST, MEMBER_LIST, SEQUENCE_LIST = "OptionList", "MemberList", "SequenceList"
ACTUAL, TARGET, MIN_SET, MAX_SET = "Actual", "Target", "MinSet", "MaxSet"
BOUNDS = (MIN_SET, MAX_SET)
INT_MAX = 999_999_999
PRIORITIES = tuple(p.value for p in PRIORITY_ORDER)


@dataclass(frozen=True, slots=True)
class Variable:
    component: str
    name: str
    data_type: str
    key: str | None = None  # the store's key (a 1.6 key where there is one)
    fixed: str = ""  # the value of a read-only variable without a key
    mutability: str = READ_ONLY
    instance: str | None = None
    evse: int | None = None
    connector: int | None = None
    min_value: int | None = None
    max_value: int | None = None
    values_list: tuple[str, ...] = ()
    unit: str | None = None
    # Taken only when the station connects again: a change answers RebootRequired.
    reboot: bool = False

    @property
    def bounded(self) -> bool:
        """An integer the CSMS may narrow with MinSet/MaxSet (stored with the value)."""
        return self.data_type == INTEGER and self.mutability == READ_WRITE

    def attributes(self) -> tuple[str, ...]:
        return (ACTUAL, *BOUNDS) if self.bounded else (ACTUAL,)

    def bound_key(self, kind: str) -> str:
        """Where a MinSet/MaxSet is kept in the store."""
        return f"{self.key}#{kind}"

    def address(self) -> tuple[str, int | None, int | None, str, str | None]:
        return (self.component, self.evse, self.connector, self.name, self.instance)


def _flag(component: str, name: str, key: str) -> Variable:
    return Variable(component, name, BOOLEAN, key, mutability=READ_WRITE)


def _seconds(
    component: str, name: str, key: str, least: int = 0, *, instance: str | None = None
) -> Variable:
    return Variable(
        component,
        name,
        INTEGER,
        key,
        mutability=READ_WRITE,
        instance=instance,
        min_value=least,
        max_value=INT_MAX,
        unit="s",
    )


def _fixed(component: str, name: str, value: str, data_type: str = STRING) -> Variable:
    return Variable(component, name, data_type, fixed=value)


def _comm() -> list[Variable]:
    tx = "TransactionEvent"
    return [
        _seconds("OCPPCommCtrlr", "HeartbeatInterval", "HeartbeatInterval", 1),
        Variable(
            "OCPPCommCtrlr",
            "MessageAttempts",
            INTEGER,
            "TransactionMessageAttempts",
            mutability=READ_WRITE,
            instance=tx,
            min_value=1,
            max_value=INT_MAX,
        ),
        _seconds(
            "OCPPCommCtrlr",
            "MessageAttemptInterval",
            "TransactionMessageRetryInterval",
            instance=tx,
        ),
        # The ping period is taken when the station connects.
        replace(
            _seconds("OCPPCommCtrlr", "WebSocketPingInterval", "WebSocketPingInterval", 1),
            reboot=True,
        ),
        Variable("OCPPCommCtrlr", "ResetRetries", INTEGER, "ResetRetries"),
        Variable("OCPPCommCtrlr", NETWORK_PRIORITY[1], SEQUENCE_LIST, mutability=READ_WRITE),
        Variable(
            "OCPPCommCtrlr",
            "NetworkProfileConnectionAttempts",
            INTEGER,
            CONNECTION_ATTEMPTS_KEY,
            mutability=READ_WRITE,
            min_value=1,
            max_value=INT_MAX,
        ),
    ]


def _auth() -> list[Variable]:
    return [
        _fixed("AuthCtrlr", "Enabled", "true", BOOLEAN),
        _flag("AuthCtrlr", "AuthorizeRemoteStart", "AuthorizeRemoteTxRequests"),
        _flag("AuthCtrlr", "LocalAuthorizeOffline", "LocalAuthorizeOffline"),
        _flag("AuthCtrlr", "LocalPreAuthorize", "LocalPreAuthorize"),
        _flag("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "AllowOfflineTxForUnknownId"),
        Variable(
            "AuthCtrlr",
            "MasterPassGroupId",
            STRING,
            MASTER_PASS_KEY,
            mutability=READ_WRITE,
            max_value=MASTER_PASS_MAX_CHARS,
        ),
        _flag("AuthCacheCtrlr", "Enabled", "AuthorizationCacheEnabled"),
        _flag("LocalAuthListCtrlr", "Enabled", "LocalAuthListEnabled"),
        Variable("LocalAuthListCtrlr", "ItemsPerMessage", INTEGER, "SendLocalListMaxLength"),
    ]


def _tx() -> list[Variable]:
    return [
        _flag("TxCtrlr", "StopTxOnInvalidId", "StopTransactionOnInvalidId"),
        Variable(
            "TxCtrlr",
            "EVConnectionTimeOut",
            INTEGER,
            "ConnectionTimeOut",
            mutability=READ_WRITE,
            min_value=1,
            max_value=600,
            unit="s",
        ),
        Variable(
            "TxCtrlr", "StopTxOnEVSideDisconnect", BOOLEAN, "StopTransactionOnEVSideDisconnect"
        ),
        # Settable to the lists meaning what the session side does (``tx_points``).
        _points("TxStartPoint", TX_START_POINT_KEY),
        _points("TxStopPoint", TX_STOP_POINT_KEY),
    ]


def _points(name: str, key: str) -> Variable:
    return Variable("TxCtrlr", name, MEMBER_LIST, key, mutability=READ_WRITE, values_list=TX_POINTS)


def _metering() -> list[Variable]:
    members = tuple(sorted(MEASURANDS))
    return [
        _seconds("SampledDataCtrlr", "TxUpdatedInterval", "MeterValueSampleInterval"),
        Variable(
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            MEMBER_LIST,
            "MeterValuesSampledData",
            mutability=READ_WRITE,
            values_list=members,
        ),
        Variable(
            "SampledDataCtrlr",
            "TxEndedMeasurands",
            MEMBER_LIST,
            "StopTxnSampledData",
            mutability=READ_WRITE,
            values_list=("Energy.Active.Import.Register",),
        ),
        _seconds("AlignedDataCtrlr", "Interval", "ClockAlignedDataInterval"),
        Variable(
            "AlignedDataCtrlr",
            "Measurands",
            MEMBER_LIST,
            "MeterValuesAlignedData",
            mutability=READ_WRITE,
            values_list=members,
        ),
        Variable("AlignedDataCtrlr", "TxEndedMeasurands", MEMBER_LIST, "StopTxnAlignedData"),
    ]


CURRENCY = ("TariffCostCtrlr", None, None, "Currency", None)  # read live from the site's tariff


def _tariff_cost(tariffs: bool) -> list[Variable]:
    """TariffCostCtrlr: with the site's prices wired, tariffs (2.1 SetDefaultTariff...) and
    the CSMS's costs (CostUpdated, totalCost) are taken and shown; the currency is the site
    tariff's. Without them: said to be off, not pretended."""
    if not tariffs:
        return [
            Variable("TariffCostCtrlr", "Enabled", BOOLEAN, fixed="false", instance="Tariff"),
            Variable("TariffCostCtrlr", "Enabled", BOOLEAN, fixed="false", instance="Cost"),
        ]
    on = [
        Variable("TariffCostCtrlr", name, BOOLEAN, fixed="true", instance=instance)
        for name in ("Available", "Enabled")
        for instance in ("Tariff", "Cost")
    ]
    return [
        *on,
        Variable("TariffCostCtrlr", "Currency", STRING),
        _fixed("TariffCostCtrlr", "TariffFallbackMessage", "See the price at the charger"),
        _fixed("TariffCostCtrlr", "TotalCostFallbackMessage", "See your receipt"),
        Variable(
            "TariffCostCtrlr",
            "MaxElements",
            INTEGER,
            fixed=str(MAX_TARIFF_ELEMENTS),
            instance="Tariff",
        ),
    ]


def _blocks(smart: bool) -> list[Variable]:
    return [
        _fixed("SmartChargingCtrlr", "Enabled", "true" if smart else "false", BOOLEAN),
        _fixed("SmartChargingCtrlr", "RateUnit", "A,W", MEMBER_LIST),
        Variable("SmartChargingCtrlr", "PeriodsPerSchedule", INTEGER, "ChargingScheduleMaxPeriods"),
        Variable("SmartChargingCtrlr", "ProfileStackLevel", INTEGER, "ChargeProfileMaxStackLevel"),
        _fixed("ReservationCtrlr", "Enabled", "true", BOOLEAN),
        Variable("ReservationCtrlr", "NonEvseSpecific", BOOLEAN, "ReserveConnectorZeroSupported"),
    ]


def display_variables(formats: tuple[str, ...], max_messages: int) -> list[Variable]:
    """DisplayMessageCtrlr: ``DisplayMessages`` reads the number of messages kept (a live
    reading, ``DeviceModel``'s ``readings``); its maxLimit is how many may be kept."""
    return [
        _fixed("DisplayMessageCtrlr", "Enabled", "true", BOOLEAN),
        _fixed("DisplayMessageCtrlr", "Available", "true", BOOLEAN),
        Variable("DisplayMessageCtrlr", "DisplayMessages", INTEGER, max_value=max_messages),
        _fixed("DisplayMessageCtrlr", "SupportedFormats", ",".join(formats), MEMBER_LIST),
        _fixed("DisplayMessageCtrlr", "SupportedPriorities", ",".join(PRIORITIES), MEMBER_LIST),
    ]


def _station(settings: OcppSettings, identity: str, evses: int) -> list[Variable]:
    found = [
        _fixed("SecurityCtrlr", "SecurityProfile", str(settings.security_profile), INTEGER),
        _fixed("SecurityCtrlr", "Identity", identity),
        Variable(
            "SecurityCtrlr", "OrganizationName", STRING, ORGANIZATION_KEY, mutability=READ_WRITE
        ),
        _fixed("SecurityCtrlr", "CertificateEntries", "0", INTEGER),
        Variable(*BASIC_AUTH_PASSWORD, STRING, mutability=WRITE_ONLY, max_value=40),
        _fixed("ChargingStation", "Available", "true", BOOLEAN),
        _fixed("ChargingStation", "Model", settings.charge_point_model),
        _fixed("ChargingStation", "VendorName", settings.charge_point_vendor),
    ]
    for evse in range(1, evses + 1):
        found.append(Variable("EVSE", "Available", BOOLEAN, fixed="true", evse=evse))
        found.append(
            Variable("Connector", "Available", BOOLEAN, fixed="true", evse=evse, connector=1)
        )
    return found


def _site(station: Station | None) -> list[Variable]:
    """The site's own components: the grid connection's limits as configured. Read-only: the
    CSMS limits the site through charging profiles, never by raising these."""
    if station is None or station.grid is None:
        return []
    grid, electrical = station.grid, station.electrical
    found = [
        Variable("SiteLimits", "GridLimit", DECIMAL, fixed=_number(grid.limit_a), unit="A"),
        Variable("SiteLimits", "Phases", INTEGER, fixed=str(electrical.phases)),
        Variable(
            "SiteLimits", "NominalVoltage", DECIMAL, fixed=_number(electrical.voltage_v), unit="V"
        ),
        Variable(
            "SiteLimits",
            "FallbackCurrent",
            DECIMAL,
            fixed=_number(grid.fallback_current_a),
            unit="A",
        ),
        Variable("GridMeter", "StaleAfter", DECIMAL, fixed=_number(grid.stale_after_s), unit="s"),
    ]
    if grid.power_limit_w is not None:
        found.append(
            Variable(
                "SiteLimits", "PowerLimit", DECIMAL, fixed=_number(grid.power_limit_w), unit="W"
            )
        )
    return found


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def station_variables(
    settings: OcppSettings,
    identity: str,
    evses: int,
    *,
    smart: bool,
    site: Station | None = None,
    tariffs: bool = False,
) -> list[Variable]:
    """Every variable of one station, in report order."""
    return [
        *_comm(),
        *_auth(),
        *_tx(),
        *_metering(),
        *_blocks(smart),
        *_tariff_cost(tariffs),
        *_station(settings, identity, evses),
        *_site(site),
    ]


def bound_defaults(variables: list[Variable]) -> dict[str, str]:
    """Store entries for the MinSet/MaxSet of every bounded variable and for the 2.x-only
    variables (unset: empty)."""
    found = {v.bound_key(kind): "" for v in variables if v.bounded for kind in BOUNDS}
    return found | {
        ORGANIZATION_KEY: "",
        CONNECTION_ATTEMPTS_KEY: "3",
        TX_START_POINT_KEY: START_POINT_DEFAULT,
        TX_STOP_POINT_KEY: STOP_POINT_DEFAULT,
        LOG_UPLOAD_KEY: "",
    }
