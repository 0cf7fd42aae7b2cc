"""What the web needs from the site, as small Protocols; ``app/`` wires the real services."""

from __future__ import annotations

from typing import Any, Protocol

from edge_controller.domain.commands import Command, CommandResult
from edge_controller.domain.display_messages import DisplayMessage
from edge_controller.domain.problems import FiledReport, ProblemReport
from edge_controller.domain.snapshot import SiteView
from edge_controller.domain.web_payment import PaymentHold


class SiteSource(Protocol):
    def current(self) -> SiteView:
        """The site's status view now."""
        ...

    async def next_view(self) -> SiteView:
        """Wait for the control loop's next snapshot."""
        ...


class CommandPort(Protocol):
    async def decide(self, command: Command) -> CommandResult:
        """The one command port (``app.commands.CommandPort``): the owner's own decision."""
        ...


class ParsedCommand(Protocol):
    """A command payload read into a command, or the reason it was refused."""

    @property
    def request_id(self) -> str | None: ...

    @property
    def command(self) -> Command | None: ...

    @property
    def error(self) -> str | None: ...


class CommandPayloads(Protocol):
    def __call__(self, name: str, raw: bytes, connectors: tuple[str, ...]) -> ParsedCommand:
        """Read one command's JSON payload as every other entry point reads it (origin web)."""
        ...


class ProblemDesk(Protocol):
    async def file(self, report: ProblemReport) -> FiledReport:
        """Store the report (durable when this returns) and tell MQTT and the CSMS."""
        ...

    async def recent(self, limit: int, open_only: bool) -> list[FiledReport]: ...

    async def handle(self, number: int, wanted: str, by: str, note: str) -> FiledReport | None:
        """Acknowledge or resolve report ``number`` (``domain.problems.next_state``; raises
        ChangeRefused); None: no such report."""
        ...

    async def open_count(self) -> int: ...


class SessionHistory(Protocol):
    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """The latest sessions, newest first, as JSON objects (id tags masked)."""
        ...

    async def receipt(self, session_id: int) -> dict[str, Any] | None:
        """The receipt of a finished session as ``edge-controller sessions receipt`` gives it
        (same content, same receipt id), or None: no such session, or still running."""
        ...


class MessageSource(Protocol):
    """What the CSMS set for drivers (``services.display_board.MessageBoard``)."""

    def messages(self) -> tuple[DisplayMessage, ...]:
        """Every display message the CSMS set."""
        ...

    def templates(self) -> dict[str, str]:
        """Payment URL templates a 1.6 CSMS set, by station."""
        ...

    def holds(self) -> dict[str, PaymentHold]:
        """Connectors held for a web payment."""
        ...
