"""The readers section: name patterns must compile, feedback is one of the known kinds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge_controller.config.settings import ReaderSettings


def test_defaults() -> None:
    reader = ReaderSettings(name_pattern="ACR122", connectors=["c1:1"])
    assert (reader.feedback, reader.reverse_uid, reader.uid_from_atr) == ("auto", False, False)


def test_bad_regular_expression_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        ReaderSettings(name_pattern="ACR(122", connectors=["c1:1"])


def test_unknown_feedback_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="feedback"):
        ReaderSettings.model_validate(
            {"name_pattern": "ACR122", "connectors": ["c1:1"], "feedback": "siren"}
        )
