"""The control path: pollers read the devices, ``SiteController`` runs ``allocate()`` and writes
the setpoints, ``StatusRelay`` hands charger statuses on without ever blocking the loop.
"""

from edge_controller.services.control.connector import ConnectorSetup, LoopTiming
from edge_controller.services.control.poller import Poller, ReadStats
from edge_controller.services.control.site_controller import BalancingCommand, SiteController
from edge_controller.services.control.status_relay import StatusRelay

__all__ = [
    "BalancingCommand",
    "ConnectorSetup",
    "LoopTiming",
    "Poller",
    "ReadStats",
    "SiteController",
    "StatusRelay",
]
