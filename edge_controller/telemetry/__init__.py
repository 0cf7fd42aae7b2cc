"""MQTT telemetry and commands: state out as retained JSON, validated commands in.

Public entry points: :class:`MqttService` (publisher + command receiver), :class:`CommandSink`
(where validated commands go), :class:`CommandResult`, :class:`SessionEvent`.
"""

from edge_controller.telemetry.events import SessionEvent
from edge_controller.telemetry.service import MqttService
from edge_controller.telemetry.sink import CommandResult, CommandSink

__all__ = ["CommandResult", "CommandSink", "MqttService", "SessionEvent"]
