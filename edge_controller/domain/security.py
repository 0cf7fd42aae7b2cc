"""Security events: what the station tells the CSMS happened to its security (pure).

The kinds are the OCPP security events list's names (the same words in 1.6's security
extension and 2.x). An event is committed to the outbox when it is noticed and sent when a
connection is up, so an outage delays it but never loses it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MAX_TECH_INFO_CHARS = 255  # the schema's limit of techInfo


class SecurityEventKind(enum.StrEnum):
    STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
    RESET_OR_REBOOT = "ResetOrReboot"
    SETTING_SYSTEM_TIME = "SettingSystemTime"
    FAILED_TO_AUTHENTICATE_AT_CSMS = "FailedToAuthenticateAtCsms"
    RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
    INVALID_CSMS_CERTIFICATE = "InvalidCsmsCertificate"
    INVALID_CHARGING_STATION_CERTIFICATE = "InvalidChargingStationCertificate"
    INVALID_TLS_VERSION = "InvalidTLSVersion"
    INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"


@dataclass(frozen=True, slots=True)
class SecurityEventRaised:
    """One security event as the outbox keeps it (rendered at send time)."""

    kind: SecurityEventKind
    at_s: float
    tech_info: str = ""

    def __post_init__(self) -> None:
        if len(self.tech_info) > MAX_TECH_INFO_CHARS:
            object.__setattr__(self, "tech_info", self.tech_info[: MAX_TECH_INFO_CHARS - 1] + "…")

    @property
    def session_local_id(self) -> None:
        """An event belongs to no session (the outbox rows' session column)."""
        return None


class RaisedOnce:
    """Kinds already raised since the last good connection: a CSMS that keeps refusing us
    (wrong root, wrong password) is told once per outage, not at every reconnect."""

    def __init__(self) -> None:
        self._raised: set[SecurityEventKind] = set()

    def first(self, kind: SecurityEventKind) -> bool:
        """True the first time ``kind`` is raised since ``connected``."""
        if kind in self._raised:
            return False
        self._raised.add(kind)
        return True

    def connected(self) -> None:
        self._raised.clear()
