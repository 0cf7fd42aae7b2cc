"""The OCPP 2.x device model: components and variables over the one store the 1.6 keys use."""

from edge_controller.uplink.device_model.catalog import Variable, bound_defaults, station_variables
from edge_controller.uplink.device_model.store import DeviceModel

__all__ = ["DeviceModel", "Variable", "bound_defaults", "station_variables"]
