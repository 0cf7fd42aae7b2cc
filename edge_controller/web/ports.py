"""What the web needs from the site, as small Protocols; ``app/`` wires the real services."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import date
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
        """Acknowledge, resolve or note on report ``number`` (``wanted``: ``acknowledged``,
        ``resolved`` or ``noted``; ``domain.problems.next_state``; raises ChangeRefused); None:
        no such report."""
        ...

    async def open_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Which sessions the console lists, exports or sums: started in [from_date, to_date]
    (site-local days), on one connector, paid one way, running or finished (None: any)."""

    from_date: date | None = None
    to_date: date | None = None
    connector_id: str | None = None
    method: str | None = None
    status: str | None = None


class SessionHistory(Protocol):
    @property
    def methods(self) -> tuple[str, ...]:
        """The payment methods a session can have (``sessions --method``)."""
        ...

    async def listed(self, wanted: SessionFilter, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` sessions ``wanted`` selects, newest first, each as a row of
        ``edge-controller sessions`` (id tags masked, amounts as decimal strings)."""
        ...

    def export_csv(self, wanted: SessionFilter) -> AsyncGenerator[str, None]:
        """What ``edge-controller sessions --format csv`` writes for the same selection, in
        pieces as they are read (close it to stop early)."""
        ...

    async def revenue(self, wanted: SessionFilter) -> dict[str, list[dict[str, Any]]]:
        """Finished sessions' revenue per day and method, per method and in total
        (``sessions_report.revenue_tables``)."""
        ...

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


class HeldForOperator(Protocol):
    """What waits for an operator (``app.web.OperatorQueue``)."""

    async def parked(self, limit: int) -> list[dict[str, Any]]:
        """Outbox messages the CSMS refused past their attempts, oldest first: seq, identity,
        event, session_id, queued_at (UTC), attempts, last_error."""
        ...

    async def unknown_payments(self) -> list[dict[str, Any]]:
        """Card pre-authorisations of unknown outcome, oldest first: terminal_id, connector_id,
        amount (decimal string), currency, at (UTC)."""
        ...

    async def requeue(self, seq: int | None) -> list[int]:
        """Put message ``seq`` (None: every parked one) back in line and wake the sender;
        ValueError: ``seq`` is not parked."""
        ...
