"""The seam through which validated MQTT commands reach the services that own the state."""

from __future__ import annotations

from typing import Protocol

from edge_controller.domain.commands import Command, CommandResult

__all__ = ["CommandPort", "CommandResult"]


class CommandPort(Protocol):
    """Applies a domain command; must not raise for a refused command (return a failure)."""

    async def decide(self, command: Command) -> CommandResult: ...
