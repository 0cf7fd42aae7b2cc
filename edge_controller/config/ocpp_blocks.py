"""Which OCPP functional blocks the uplink serves per version, as ``check-config`` names them.
Pure data: importing it loads no OCPP library."""

from __future__ import annotations

BLOCKS: dict[str, tuple[str, ...]] = {
    "1.6": (
        "Core",
        "LocalAuthListManagement",
        "Reservation",
        "SmartCharging",
        "RemoteTrigger",
        "FirmwareManagement (diagnostics only)",
    ),
    "2.0.1": (
        "Provisioning (boot, heartbeat, status per EVSE)",
        "Authorization (card taps asked of the CSMS)",
        "Transactions (events, remote start and stop)",
        "Device model (variables and reports, one store with the 1.6 keys)",
        "Local authorization list and cache",
        "Display messages (shown on MQTT and the site display)",
    ),
}
BLOCKS["2.1"] = (
    *BLOCKS["2.0.1"],
    "Web payment (NotifyWebPaymentStarted holds the EVSE)",
    "Periodic event streams (an EVSE's power, when a monitor asks for one)",
)


def describe(versions: tuple[str, ...]) -> list[str]:
    """One line per version offered, in preference order: the version and its blocks."""
    return [f"ocpp {version}: {', '.join(BLOCKS[version])}" for version in versions]
