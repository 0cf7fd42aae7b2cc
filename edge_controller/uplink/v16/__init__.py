"""What only OCPP 1.6J has: the charge point on one websocket, its configuration keys,
StatusNotification and MeterValues contents.

``charge_point`` (``EdgeChargePoint``) is imported by its own path: it combines the handlers,
which use this package's configuration keys.
"""

from edge_controller.uplink.v16.config_keys import KeySpec

__all__ = [
    "KeySpec",
]
