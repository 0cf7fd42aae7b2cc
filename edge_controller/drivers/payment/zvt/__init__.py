"""ZVT (the German terminal makers' ECR interface) over TCP: a ``PaymentTerminal`` driver."""

from edge_controller.drivers.payment.zvt.apdu import Apdu, FrameError
from edge_controller.drivers.payment.zvt.terminal import ZvtSettings, ZvtTerminal

__all__ = ["Apdu", "FrameError", "ZvtSettings", "ZvtTerminal"]
