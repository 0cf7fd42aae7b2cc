"""``check-config`` given a parent gateway's config and its children's checks them against each
other: a child that would fall back to more than its parent counts it at, that the parent does
not know, or that talks on other topics is refused (exit 2) with the file, the key, its line and
the reason; each of those files alone is valid and passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller import cli

PARENT = """\
site:
  id: depot
  grid_limit_a: 63
  role: parent
  gateways:
    topic_prefix: edge/gateways
    children:
      hall-a: {limit_a: 80, safe_budget_a: 32}
      hall-b: {limit_a: 40, safe_budget_a: 16}
buses: {lan: {type: tcp, host: 127.0.0.1}}
meters:
  grid: {bus: lan, unit_id: 1, profile: eastron_sdm630}
mqtt: {enabled: true}
"""


def _child(
    child_id: str = "hall-a",
    safe_budget_a: float = 32,
    prefix: str = "edge/gateways",
    extra: str = "",
    grid_limit_a: float = 80,
) -> str:
    return f"""\
site:
  id: {child_id}
  grid_limit_a: {grid_limit_a:g}
  role: child
  gateways:
    topic_prefix: {prefix}
    child_id: {child_id}
    safe_budget_a: {safe_budget_a}
{extra}buses: {{lan: {{type: tcp, host: 127.0.0.1}}}}
chargers:
  wb1: {{bus: lan, unit_id: 1, profile: keba_kecontact_p30, failsafe_current_a: 6}}
mqtt: {{enabled: true}}
"""


def _files(tmp_path: Path, *children: str) -> list[str]:
    paths = [tmp_path / "parent.yaml"]
    paths[0].write_text(PARENT)
    for n, text in enumerate(children):
        path = tmp_path / f"child{n}.yaml"
        path.write_text(text)
        paths.append(path)
    return [str(p) for p in paths]


def _refused(capsys: pytest.CaptureFixture[str], files: list[str]) -> str:
    for path in files:  # each alone is a valid config
        assert cli.main(["check-config", path]) == 0
    capsys.readouterr()
    assert cli.main(["check-config", *files]) == 2
    captured = capsys.readouterr()
    assert "OK" not in captured.out
    return captured.err


def test_a_parent_and_children_that_agree_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files(tmp_path, _child(), _child("hall-b", 16, grid_limit_a=40))
    assert cli.main(["check-config", *files]) == 0
    out = capsys.readouterr().out
    assert all(f"{path}: OK" in out for path in files)
    assert "together: OK (3 gateways)" in out
    assert cli.main(["check-config", *files[:2]]) == 0
    assert "together: OK (2 gateways; children without a file, not checked: hall-b)" in (
        capsys.readouterr().out
    )


def test_a_child_safe_budget_above_its_parents_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files(tmp_path, _child(safe_budget_a=80))
    err = _refused(capsys, files)
    assert f"{files[1]}: 1 problem(s)" in err
    assert "site.gateways.safe_budget_a (line 8): 80 A is above the 32 A the parent" in err
    assert f"site.gateways.children.hall-a.safe_budget_a in {files[0]}" in err


def test_a_child_the_parent_does_not_know_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files(tmp_path, _child("hall-c", 16))
    err = _refused(capsys, files)
    assert "site.gateways.child_id (line 7): hall-c is not a child of the parent" in err
    assert "(its children: hall-a, hall-b)" in err


def test_a_child_feeder_above_the_parents_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files(tmp_path, _child("hall-b", 16))
    err = _refused(capsys, files)
    assert "site.grid_limit_a (line 3): 80 A is above the limit of this child's feeder" in err


def test_a_child_on_another_topic_prefix_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files(tmp_path, _child(prefix="edge/gw"))
    err = _refused(capsys, files)
    assert "site.gateways.topic_prefix (line 6): 'edge/gw' is not the parent's" in err


def test_reports_too_seldom_for_the_parent_and_a_wider_clock_tolerance_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = "    report_interval_s: 5\n    clock_tolerance_s: 3\n"
    files = _files(tmp_path, _child(extra=extra))
    err = _refused(capsys, files)
    assert "site.gateways.report_interval_s (line 9): 5 s and the 1 s a report may take" in err
    assert "site.gateways.clock_tolerance_s (line 10): 3 s is above the parent's (2 s" in err


def test_every_childs_problems_are_named_by_its_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files(
        tmp_path, _child(safe_budget_a=80), _child("hall-b", 16, prefix="other", grid_limit_a=40)
    )
    err = _refused(capsys, files)
    assert f"{files[1]}: 1 problem(s)" in err and f"{files[2]}: 1 problem(s)" in err


def test_files_without_exactly_one_parent_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    child, other = tmp_path / "child.yaml", tmp_path / "other.yaml"
    child.write_text(_child())
    other.write_text(_child("hall-b", 16, grid_limit_a=40))
    assert cli.main(["check-config", str(child), str(other)]) == 2
    assert "0 files with site.role parent" in capsys.readouterr().err
    first, second = tmp_path / "depot.yaml", tmp_path / "depot2.yaml"
    first.write_text(PARENT)
    second.write_text(PARENT)
    assert cli.main(["check-config", str(first), str(second), str(child)]) == 2
    err = capsys.readouterr().err
    assert f"{first}: 1 problem(s)" in err and f"{second}: 1 problem(s)" in err
    assert "site.role (line 4): 2 files with site.role parent" in err


def test_the_same_file_given_twice_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given twice, one child's file was checked as one file and passed."""
    files = _files(tmp_path, _child())
    again = str(tmp_path / "." / "child0.yaml")  # the same file by another name
    assert cli.main(["check-config", *files, again]) == 2
    captured = capsys.readouterr()
    assert f"{again}: given more than once (as {files[1]} before)" in captured.err
    assert "OK" not in captured.out


def test_a_child_whose_evs_follow_later_than_the_parent_counts_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = _child().replace("  role: child\n", "  role: child\n  decrease_settle_s: 20\n")
    files = _files(tmp_path, slow)
    err = _refused(capsys, files)
    assert "site.decrease_settle_s (line 5): this child's EVs follow a lowering within" in err


def test_two_children_with_one_child_id_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files(tmp_path, _child(), _child())
    err = _refused(capsys, files)
    assert f"site.gateways.child_id (line 7): hall-a is also {files[1]}'s" in err


def test_a_child_whose_chargers_failsafe_draw_is_above_what_its_parent_counts_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """hall-b's charger falls back to 20 A on its own when hall-b stops telling it (a crash),
    the parent counts hall-b at 16 A: alone, the child's config only warns (it cannot know
    what its parent counts)."""
    child = _child("hall-b", 16, grid_limit_a=40).replace(
        "failsafe_current_a: 6", "failsafe_current_a: 20"
    )
    files = _files(tmp_path, child)
    err = _refused(capsys, files)
    assert f"{files[1]}: 1 problem(s)" in err
    assert "chargers.wb1.failsafe_current_a (line 11): this child's chargers draw 20 A" in err
    assert "above the 16 A the parent counts it at (site.gateways.children.hall-b" in err
