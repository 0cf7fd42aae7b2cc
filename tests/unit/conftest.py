from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_controller.config.settings import ENV_PREFIX

PROFILES = {"charger_model": "charger", "meter_model": "meter"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests must not see overrides from the environment they run in."""
    for key in list(os.environ):
        if key.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    yield


@pytest.fixture
def write_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(text: str, name: str = "site.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
