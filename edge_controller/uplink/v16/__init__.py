"""What only OCPP 1.6J has: the charge point on one websocket, its configuration keys, the
schema check of CSMS calls, StatusNotification and MeterValues contents.

``charge_point`` (``EdgeChargePoint``) is imported by its own path: it combines the handlers,
which use this package's configuration keys.
"""

from edge_controller.uplink.v16.config_keys import KeySpec
from edge_controller.uplink.v16.validation import check_call

__all__ = [
    "KeySpec",
    "check_call",
]
