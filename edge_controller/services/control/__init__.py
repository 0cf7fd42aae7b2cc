"""The control path: pollers read the devices, ``SiteController`` runs ``allocate()`` and writes
the setpoints, ``StatusRelay`` hands charger statuses on without ever blocking the loop,
``CsmsLimits`` turns the CSMS's limits into the balancer's external limits.
"""

from edge_controller.services.control.connector import ConnectorSetup, LoopTiming
from edge_controller.services.control.csms_limits import CsmsLimits
from edge_controller.services.control.poller import Poller, ReadStats
from edge_controller.services.control.site_controller import BalancingCommand, SiteController
from edge_controller.services.control.status_relay import StatusRelay

__all__ = [
    "BalancingCommand",
    "ConnectorSetup",
    "CsmsLimits",
    "LoopTiming",
    "Poller",
    "ReadStats",
    "SiteController",
    "StatusRelay",
]
