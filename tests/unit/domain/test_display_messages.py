"""Which display messages a display shows, in which order, and which are over: a table, one
data file per case (``display_messages/``). Each step gives the connectors' state and session
at a moment; ``shown`` is per connector, ``own`` what its card shows beside the site's part,
``site`` the site's part."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.display_messages import (
    DisplayMessage,
    MessageState,
    Priority,
    connector_messages,
    ended,
    for_language,
    shown,
    shown_for_site,
)
from edge_controller.domain.snapshot import Availability, ConnectorView

CASES = sorted((Path(__file__).parent / "display_messages").glob("*.json"))


def _message(raw: dict[str, Any]) -> DisplayMessage:
    state = raw.get("state")
    return DisplayMessage(
        message_id=raw["id"], station="cs", priority=Priority(raw["priority"]),
        content=f"m{raw['id']}", state=None if state is None else MessageState(state),
        start_s=raw.get("start_s"), end_s=raw.get("end_s"), connectors=tuple(raw["connectors"]),
        evse_id=raw.get("evse"), session_id=raw.get("session_id"), seq=raw["seq"],
        language=raw.get("language"),
    )  # fmt: skip


def _ids(messages: tuple[DisplayMessage, ...]) -> list[int]:
    return [m.message_id for m in messages]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_display_messages(path: Path) -> None:
    case = json.loads(path.read_text())
    messages = [_message(m) for m in case["messages"]]
    for step in case["steps"]:
        now_s, at = step["now_s"], f"at {step['now_s']}"
        views = [
            ConnectorView(cid, Availability(state), 0.0, "", session_id=session)
            for cid, state, session in step["connectors"]
        ]
        for view in views:
            assert _ids(shown(messages, view, now_s)) == step["shown"][view.connector_id], at
            own = step.get("own", step["shown"])[view.connector_id]
            site = shown_for_site(messages, views, now_s)
            assert _ids(connector_messages(messages, view, now_s, site)) == own, at
        assert _ids(shown_for_site(messages, views, now_s)) == step["site"], at
        assert ended(messages, views, now_s) == step["ended"], at


def test_a_page_shows_its_language_and_falls_back_to_the_others() -> None:
    def one(message_id: int, language: str | None) -> DisplayMessage:
        return DisplayMessage(message_id, "cs", Priority.NORMAL_CYCLE, "x", language=language)

    both = [one(1, "en"), one(2, "de-DE"), one(3, None)]
    assert _ids(for_language(both, "de")) == [2, 3]
    assert _ids(for_language(both, "en")) == [1, 3]
    # Nothing in French: rather every message than none.
    assert _ids(for_language(both, "fr")) == [1, 2, 3]


def test_a_translation_the_csms_sent_is_shown_in_the_pages_language() -> None:
    message = DisplayMessage(
        1, "cs", Priority.NORMAL_CYCLE, "Closed at 8 pm", language="en",
        translations=(("de", "Ab 20 Uhr geschlossen"), ("fr", "Fermé à 20 h")),
    )  # fmt: skip
    other = DisplayMessage(2, "cs", Priority.NORMAL_CYCLE, "Only English", language="en", seq=1)
    (german,) = for_language([message, other], "de-AT")
    assert (german.content, german.language) == ("Ab 20 Uhr geschlossen", "de")
    assert [m.content for m in for_language([message, other], "en")] == [
        "Closed at 8 pm", "Only English",
    ]  # fmt: skip
    # Nobody wrote Italian: every message as it is rather than none.
    assert [m.content for m in for_language([message, other], "it")] == [
        "Closed at 8 pm", "Only English",
    ]  # fmt: skip
