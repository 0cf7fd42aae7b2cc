"""What a problem report may hold: each refusal says why."""

from __future__ import annotations

import pytest

from edge_controller.domain.problems import (
    MAX_TEXT_CHARS,
    ChangeRefused,
    ProblemKind,
    ProblemState,
    ReportRefused,
    check_report,
    clean_text,
    next_state,
    reference,
)

CONNECTORS = ("wb1:1", "wb1:2")


@pytest.mark.parametrize(
    ("connector", "kind", "text", "submission", "refusal"),
    [
        ("wb9:1", "cable", "", "s", "unknown connector 'wb9:1'"),
        ("wb1:1", "fire", "", "s", "unknown kind of problem 'fire'"),
        ("wb1:1", "other", "  \n\t ", "s", "say what is wrong"),
        ("wb1:1", "cable", "x" * (4 * MAX_TEXT_CHARS + 1), "s", "longer than 500"),
        ("wb1:1", "cable", "", "", "no valid submission id"),
        ("wb1:1", "cable", "", "s" * 65, "no valid submission id"),
    ],
)
def test_a_report_that_cannot_be_taken_says_why(
    connector: str, kind: str, text: str, submission: str, refusal: str
) -> None:
    with pytest.raises(ReportRefused, match=refusal):
        check_report(connector, kind, text, submission, CONNECTORS)


def test_a_good_report_keeps_clean_text_only() -> None:
    found = check_report("wb1:2", "other", "cable\r\n cut\x00\x1b[31m ", "abc", CONNECTORS)
    assert (found.connector_id, found.kind, found.text) == (
        "wb1:2",
        ProblemKind.OTHER,
        "cable cut[31m",
    )
    assert clean_text("a" * 2000) == "a" * MAX_TEXT_CHARS
    assert reference(42) == "P-000042" and reference(1234567) == "P-1234567"


@pytest.mark.parametrize(
    ("now", "wanted", "note", "outcome"),
    [
        ("open", "acknowledged", " Technician\nbooked ", ("acknowledged", "Technician booked")),
        ("open", "resolved", "", ("resolved", "")),
        ("acknowledged", "resolved", "Cable replaced", ("resolved", "Cable replaced")),
        ("acknowledged", "acknowledged", "", "acknowledged already"),
        ("resolved", "acknowledged", "", "resolved already"),
        ("resolved", "resolved", "", "resolved already"),
        ("acknowledged", "open", "", "cannot be opened again"),
        ("open", "closed", "", "unknown state 'closed'"),
        ("open", "resolved", "x" * (4 * MAX_TEXT_CHARS + 1), "longer than 500"),
        ("open", "noted", " Driver\ncalled ", ("open", "Driver called")),
        ("acknowledged", "noted", "Parts ordered", ("acknowledged", "Parts ordered")),
        ("resolved", "noted", "Invoice sent", ("resolved", "Invoice sent")),
        ("open", "noted", " \t\n", "needs words"),
        ("resolved", "noted", "x" * (4 * MAX_TEXT_CHARS + 1), "longer than 500"),
    ],
)
def test_operators_acknowledge_then_resolve_and_a_resolved_report_stays_resolved(
    now: str, wanted: str, note: str, outcome: tuple[str, str] | str
) -> None:
    if isinstance(outcome, str):
        with pytest.raises(ChangeRefused, match=outcome):
            next_state(ProblemState(now), wanted, note)
        return
    state, stored = next_state(ProblemState(now), wanted, note)
    assert (state.value, stored) == outcome
