"""Problem reports from drivers at the site: what may be reported and how it is checked (pure).

A report names a connector and what is wrong; ``other`` needs words. Its reference number is
``P-`` and its row number (six digits at least): short to read out on a phone call, and it says
nothing about the reporter."""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

MAX_TEXT_CHARS = 500
MAX_SUBMISSION_CHARS = 64


class ProblemKind(enum.StrEnum):
    CABLE = "cable"
    CARD_REFUSED = "card_refused"
    NO_POWER = "no_power"
    DAMAGED = "damaged"
    OTHER = "other"


class ProblemState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class ProblemReport:
    """A report as it arrives; ``submission_id`` is the form's one-time id, so the same form sent
    twice (a double tap, a reload) is one report."""

    connector_id: str
    kind: ProblemKind
    text: str
    submission_id: str
    source: str = "driver"


@dataclass(frozen=True, slots=True)
class FiledReport:
    """A stored report: its reference and when it was filed (UTC s)."""

    number: int
    reference: str
    report: ProblemReport
    filed_at_s: float
    state: ProblemState = ProblemState.OPEN
    new: bool = True  # False: the same submission was filed before (nothing stored twice)
    handling: Handling | None = None  # the last acknowledgement, resolution or note
    history: tuple[Handling, ...] = ()  # every one of them, first first (when read with it)


@dataclass(frozen=True, slots=True)
class Handling:
    """Who acknowledged, resolved or noted on a report (``action``: ``acknowledged``,
    ``resolved`` or ``noted``), when (UTC s) and what they noted."""

    by: str
    at_s: float
    note: str
    action: str = ""


class ChangeRefused(ValueError):
    """Why a report's state cannot change so, in plain words for the operator."""


NOTED = "noted"  # an operator's note alone: the state stays


def next_state(now: ProblemState, wanted: str, raw_note: str) -> tuple[ProblemState, str]:
    """The state an operator's acknowledgement, resolution or note (``wanted``: ``acknowledged``,
    ``resolved`` or ``noted``) leads to, with the note as stored; ChangeRefused when it does
    not apply (a resolved report stays resolved; an acknowledged one is acknowledged once; a
    note alone needs words, and may be added in any state)."""
    if len(raw_note) > 4 * MAX_TEXT_CHARS:
        raise ChangeRefused(f"the note is longer than {MAX_TEXT_CHARS} characters")
    if wanted == NOTED:
        note = clean_text(raw_note)
        if not note:
            raise ChangeRefused("a note needs words")
        return now, note
    try:
        target = ProblemState(wanted)
    except ValueError:
        raise ChangeRefused(f"unknown state {wanted[:20]!r}") from None
    if target is ProblemState.OPEN:
        raise ChangeRefused("a report cannot be opened again; a new report is filed instead")
    if now is ProblemState.RESOLVED:
        raise ChangeRefused("the report is resolved already")
    if now is target:
        raise ChangeRefused(f"the report is {target.value} already")
    return target, clean_text(raw_note)


class ReportRefused(ValueError):
    """Why a report cannot be taken, in plain words for whoever sent it."""


def reference(number: int) -> str:
    return f"P-{number:06d}"


def clean_text(raw: str) -> str:
    """Free text as stored: control characters dropped (newlines and tabs become spaces),
    whitespace collapsed, at most MAX_TEXT_CHARS characters."""
    kept = "".join(
        " " if ch in "\r\n\t" else ch
        for ch in raw
        if ch in "\r\n\t" or unicodedata.category(ch)[0] != "C"
    )
    return " ".join(kept.split())[:MAX_TEXT_CHARS]


def check_report(
    connector_id: str, kind: str, raw_text: str, submission_id: str, connectors: tuple[str, ...]
) -> ProblemReport:
    """The report, or ReportRefused naming what is wrong with it."""
    if connector_id not in connectors:
        raise ReportRefused(f"unknown connector {connector_id!r}")
    try:
        found = ProblemKind(kind)
    except ValueError:
        raise ReportRefused(f"unknown kind of problem {kind!r}") from None
    if len(raw_text) > 4 * MAX_TEXT_CHARS:
        raise ReportRefused(f"the text is longer than {MAX_TEXT_CHARS} characters")
    text = clean_text(raw_text)
    if found is ProblemKind.OTHER and not text:
        raise ReportRefused("say what is wrong")
    if not submission_id or len(submission_id) > MAX_SUBMISSION_CHARS:
        raise ReportRefused("the form has no valid submission id; reload the page")
    return ProblemReport(connector_id, found, text, submission_id)


@dataclass(frozen=True, slots=True)
class ProblemReported:
    """A filed report as the outbox keeps it for the CSMS (rendered at send time)."""

    reference: str
    connector_id: str  # ours: "<charger>:<n>"
    kind: ProblemKind
    text: str
    source: str
    at_s: float

    @property
    def session_local_id(self) -> None:
        """A report belongs to no session (the outbox rows' session column)."""
        return None


@dataclass(frozen=True, slots=True)
class ProblemHandled:
    """A report acknowledged, resolved or noted on (``action``), with the state it is in and
    the note, as the outbox keeps it for the CSMS and MQTT tells it: by an operator (their user
    name), or by the site when the fault it raised the report for has cleared (``by``
    ``"site"``)."""

    reference: str
    connector_id: str  # the report's
    state: ProblemState
    by: str
    note: str
    at_s: float
    action: str = ""  # empty: the state's name (events stored before notes existed)

    @property
    def session_local_id(self) -> None:
        """A report belongs to no session (the outbox rows' session column)."""
        return None

    @property
    def done(self) -> str:
        """What was done: ``acknowledged``, ``resolved`` or ``noted``."""
        return self.action or self.state.value


def handled(filed: FiledReport) -> ProblemHandled:
    """The event of a report just handled (``filed.handling`` set)."""
    assert filed.handling is not None
    h = filed.handling
    return ProblemHandled(
        filed.reference, filed.report.connector_id, filed.state, h.by, h.note, h.at_s, h.action
    )
