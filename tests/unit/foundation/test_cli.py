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


def _bomb(levels: int) -> str:
    lines = ["site: {id: s, grid_limit_a: 32}", f"x0: &a0 [{', '.join(['lol'] * 9)}]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias_bomb_8_levels": (_bomb(8).encode(), "more than 200,000 values"),
    "deep_nesting": (b"site: {id: s}\nx: " + b"[" * 20_000 + b"]" * 20_000 + b"\n", "nest"),
    "4400_digit_integer": (
        b"site: {id: s, grid_limit_a: " + b"9" * 4400 + b"}\n",
        "a number of 4400 characters",
    ),
    "latin1": ("site: {id: s, grid_limit_a: 32}\n# Größe\n".encode("latin-1"), "not UTF-8"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_exit_2_with_file_line_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    content, reason = HOSTILE[name]
    config = tmp_path / f"{name}.yaml"
    config.write_bytes(content)
    assert cli.main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and reason in err and "(line " in err
    assert "Traceback" not in err


def test_warnings_are_printed_by_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "site:\n  id: s1\n  grid_limit_a: 50\n  assumed_building_load_a: 50\n"
        "buses: {lan: {type: tcp, host: 127.0.0.1}}\n"
        "chargers: {wb1: {bus: lan, unit_id: 1, profile: keba_kecontact_p30}}\n"
    )
    assert cli.main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "warning: site.assumed_building_load_a (line 4): 50 A is not below" in out


def test_check_config_names_each_chargers_own_ocpp_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "site: {id: s1, grid_limit_a: 50}\n"
        "buses: {lan: {type: tcp, host: 127.0.0.1}}\n"
        "chargers:\n"
        "  cp1: {bus: lan, unit_id: 1, profile: heidelberg_energy_control}\n"
        "  cp2: {bus: lan, unit_id: 2, profile: heidelberg_energy_control,"
        " ocpp: {version: ['2.1', '2.0.1']}}\n"
        "ocpp: {enabled: true, url: 'ws://127.0.0.1:9/ocpp', topology: per_charger}\n"
    )
    assert cli.main(["check-config", str(config)]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert "ocpp identity cp2: versions offered 2.1, 2.0.1" in lines
    assert not any(line.startswith("ocpp identity cp1") for line in lines)
    # The blocks of every version some identity offers, the site's first.
    blocks = [line.split(":")[0] for line in lines if line.startswith("ocpp ") and ": " in line]
    assert [b for b in blocks if not b.startswith("ocpp identity")] == [
        "ocpp 1.6", "ocpp 2.1", "ocpp 2.0.1"
    ]  # fmt: skip
