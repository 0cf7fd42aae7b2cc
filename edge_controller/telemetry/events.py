"""Session start/stop facts and problem reports as the telemetry publishes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class SessionNotice:
    """A session started or stopped on a connector (published once, not retained)."""

    kind: Literal["started", "stopped"]
    connector_id: str
    session_id: str
    at_s: float
    id_tag: str | None = None
    energy_wh: float | None = None
    reason: str | None = None
    # The final cost of a stopped session: currency, excl_tax, incl_tax (decimal strings).
    cost: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ProblemNotice:
    """A problem report was filed (published once, not retained). It carries no reporter."""

    reference: str
    connector_id: str
    kind: str
    text: str
    source: str
    at_s: float
