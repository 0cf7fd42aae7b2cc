"""A file name kept as text: what goes in comes out as the same Path, and no Path is kept."""

from __future__ import annotations

import gc
from pathlib import Path, PurePath

from edge_controller.textpath import OptionalTextPath, TextPath


class _Files:
    state = TextPath()
    journal = OptionalTextPath()

    def __init__(self, state: Path, journal: Path | None) -> None:
        self.state = state
        self.journal = journal


def _paths_held_by(instance: object) -> list[object]:
    return [ref for ref in gc.get_referents(instance.__dict__) if isinstance(ref, PurePath)]


def test_a_name_kept_as_text_comes_back_as_the_same_path_and_no_path_is_held(
    tmp_path: Path,
) -> None:
    files = _Files(tmp_path / "ocpp-state" / "CP-1.json", tmp_path / "acks-1")
    assert files.state == tmp_path / "ocpp-state" / "CP-1.json"
    assert isinstance(files.state, Path)
    assert files.journal == tmp_path / "acks-1"
    assert _paths_held_by(files) == []
    assert vars(files) == {
        "_state_text": str(tmp_path / "ocpp-state" / "CP-1.json"),
        "_journal_text": str(tmp_path / "acks-1"),
    }


def test_an_absent_name_stays_absent_and_a_new_one_replaces_the_old(tmp_path: Path) -> None:
    files = _Files(tmp_path / "a.json", None)
    assert files.journal is None
    files.state = tmp_path / "b.json"
    files.journal = tmp_path / "acks"
    assert (files.state, files.journal) == (tmp_path / "b.json", tmp_path / "acks")
    files.journal = None
    assert files.journal is None


def test_the_descriptor_itself_is_what_the_class_holds() -> None:
    assert isinstance(_Files.state, TextPath)
    assert isinstance(_Files.journal, OptionalTextPath)
