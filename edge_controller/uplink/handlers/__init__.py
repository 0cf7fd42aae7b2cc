"""CSMS-initiated operations, one mixin per concern, combined by the charge point."""

from edge_controller.uplink.handlers.config import ConfigHandlers
from edge_controller.uplink.handlers.local_list import LocalListHandlers
from edge_controller.uplink.handlers.remote import RemoteHandlers
from edge_controller.uplink.handlers.reservation import ReservationHandlers
from edge_controller.uplink.handlers.smart import SmartHandlers

__all__ = [
    "ConfigHandlers",
    "LocalListHandlers",
    "RemoteHandlers",
    "ReservationHandlers",
    "SmartHandlers",
]
