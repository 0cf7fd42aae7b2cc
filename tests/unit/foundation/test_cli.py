from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller import cli


def test_check_config_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("site:\n  id: s1\n  grid_limit_a: 50\n  feeders:\n    f1: {limit_a: 25}\n")
    assert cli.main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "grid limit 50 A per phase" in out
    assert "feeder f1: 25 A per phase" in out
    assert "0 connector(s)" in out


def test_check_config_reports_errors_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("site:\n  id: s1\n  grid_limit_a: 50\n  feeders:\n    f1: {limit_a: -1}\n")
    assert cli.main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "site.feeders.f1.limit_a (line 5)" in err


def test_missing_file_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check-config", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err
