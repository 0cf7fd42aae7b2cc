"""The seam through which validated MQTT commands reach the services that own the state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from edge_controller.domain.commands import Command


@dataclass(frozen=True, slots=True)
class CommandResult:
    """Outcome of one command; ``error`` is plain words for the person who sent it."""

    ok: bool
    error: str | None = None

    @classmethod
    def success(cls) -> CommandResult:
        return cls(ok=True)

    @classmethod
    def failure(cls, error: str) -> CommandResult:
        return cls(ok=False, error=error)


class CommandSink(Protocol):
    """Applies a domain command; must not raise for a refused command (return a failure)."""

    async def submit(self, command: Command) -> CommandResult: ...
