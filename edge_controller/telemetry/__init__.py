"""MQTT telemetry and commands: state out as retained JSON, validated commands in.

Public entry points: :class:`MqttService` (publisher + command receiver), :class:`CommandPort`
(where validated commands go), :class:`CommandResult`, :class:`SessionNotice`.
"""

from edge_controller.telemetry.command_port import CommandPort, CommandResult
from edge_controller.telemetry.events import ProblemNotice, SessionNotice
from edge_controller.telemetry.service import MqttService

__all__ = ["CommandPort", "CommandResult", "MqttService", "ProblemNotice", "SessionNotice"]
