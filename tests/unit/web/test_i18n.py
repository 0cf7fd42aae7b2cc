"""The display's language from the browser's Accept-Language."""

from __future__ import annotations

import pytest

from edge_controller.web.i18n import TEXTS, pick_language


@pytest.mark.parametrize(
    ("header", "override", "language"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", None, "de"),
        ("en-GB,en;q=0.9,de;q=0.8", None, "en"),
        ("fr-FR,fr;q=0.9,de;q=0.5", None, "de"),
        ("fr, it", None, "en"),
        ("en;q=0.2, de;q=0.7", None, "de"),
        ("de;q=0", None, "en"),
        ("de;q=abc", None, "en"),
        (None, None, "en"),
        ("de", "en", "en"),
        ("de", "xx", "de"),
        ("x" * 100_000 + ",de", None, "en"),  # bounded: the tail of a huge header is not read
    ],
)
def test_the_language_is_the_best_supported_one(
    header: str | None, override: str | None, language: str
) -> None:
    assert pick_language(header, override) == language


def test_every_text_exists_in_every_language() -> None:
    keys = [set(words) for words in TEXTS.values()]
    assert all(k == keys[0] for k in keys)
