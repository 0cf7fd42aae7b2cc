"""YAML reading: line numbers, duplicate keys and the YAML 1.1 traps."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edge_controller.config.yaml_reader import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_VALUES,
    ConfigError,
    load_yaml,
    read_text,
)


def test_plain_scalars_are_read_as_the_installer_meant() -> None:
    loaded = load_yaml(
        "a: 10\nb: 0x10\nc: 1e3\nd: 2.5\ne: true\nf: no\ng: on\nh: N\n"
        "i: 1:30\nj: 010\nk: ~\nl: '7'\n"
    )
    assert loaded.data == {
        "a": 10,
        "b": 16,
        "c": 1000.0,  # YAML 1.1 (PyYAML) reads 1e3 as the string "1e3"
        "d": 2.5,
        "e": True,
        "f": "no",  # YAML 1.1 reads no as False; a typed bool field still reads it as False
        "g": "on",
        "h": "N",  # YAML 1.1 reads N as False, so parity N would be lost
        "i": "1:30",  # YAML 1.1 reads 1:30 as 90 (base 60)
        "j": "010",  # YAML 1.1 reads 010 as octal 8
        "k": None,
        "l": "7",
    }


def test_special_floats_are_floats_for_range_checks_to_reject() -> None:
    loaded = load_yaml("x: .nan\ny: -.inf\n")
    assert math.isnan(loaded.data["x"])
    assert loaded.data["y"] == float("-inf")


def test_duplicate_keys_are_reported_with_both_lines() -> None:
    loaded = load_yaml("site:\n  id: a\n  id: b\n")
    assert len(loaded.issues) == 1
    issue = loaded.issues[0]
    assert issue.path == "site.id"
    assert issue.line == 3
    assert "line 2" in issue.reason
    assert loaded.data["site"]["id"] == "a"


def test_lines_are_recorded_for_nested_keys_and_list_items() -> None:
    loaded = load_yaml("readers:\n  r1:\n    connectors:\n      - wb1:1\n      - wb2:1\n")
    assert loaded.line_of(("readers", "r1", "connectors", 1)) == 5
    assert loaded.line_of(("readers", "r1", "missing_key")) == 2


def test_merge_keys_fill_only_missing_keys() -> None:
    loaded = load_yaml("base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n")
    assert loaded.data["item"] == {"x": 1, "y": 3}


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "empty"), ("- a\n- b\n", "mapping"), ("site: [1, 2\n", "YAML syntax")],
)
def test_unusable_documents_raise_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(text, "f.yaml")
    assert reason in str(info.value)
    assert "f.yaml" in str(info.value)


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("site:\n  id: a\n  x: [1, 2\n")
    assert info.value.issues[0].line is not None


# --- Hostile files: refused with a line and a reason, in bounded time and memory -----------


@pytest.mark.timeout(30)
def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    text = "site: {id: s}\nx: " + "[" * 20_000 + "]" * 20_000 + "\n"
    with pytest.raises(ConfigError) as info:
        load_yaml(text, "deep.yaml")
    (issue,) = info.value.issues
    assert issue.line == 2
    assert "nest" in issue.reason


def test_nesting_just_beyond_the_limit_is_refused_with_its_line() -> None:
    text = "site:\n  x: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"
    with pytest.raises(ConfigError) as info:
        load_yaml(text)
    assert info.value.issues[0].line == 2
    assert f"nested more than {MAX_DEPTH} levels deep" in info.value.issues[0].reason


def test_a_number_too_long_for_python_is_an_issue_with_its_line() -> None:
    loaded = load_yaml("site:\n  id: s\n  grid_limit_a: " + "9" * 4400 + "\n")
    (issue,) = loaded.issues
    assert (issue.path, issue.line) == ("site.grid_limit_a", 3)
    assert "a number of 4400 characters" in issue.reason
    assert loaded.data["site"]["grid_limit_a"] is None


def test_a_long_plain_text_that_is_not_a_number_stays_text() -> None:
    key = "0123456789abcdef" * 5  # a hex key written without quotes
    assert load_yaml(f"k: {key}\n").data == {"k": key}


def test_control_characters_are_refused_with_their_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("site:\n  id: s\x07\n")
    assert info.value.issues[0].line == 2
    assert "#x0007" in info.value.issues[0].reason


def test_non_utf8_file_is_refused_with_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("site:\n  id: s\n# Größe\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        read_text(path)
    (issue,) = info.value.issues
    assert issue.line == 3
    assert "not UTF-8" in issue.reason and "0xf6" in issue.reason and "column 5" in issue.reason


def test_a_file_larger_than_the_limit_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as out:
        out.write("site: {id: s, grid_limit_a: 32}\n")
        out.write("# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(ConfigError) as info:
        read_text(path)
    assert f"larger than {MAX_FILE_BYTES:,} bytes" in info.value.issues[0].reason


def test_values_are_counted_with_aliases_expanded() -> None:
    # Every alias of a 1,000-value list stands for 1,001 values: 200 of them is over the limit.
    anchor = "base: &b [" + ", ".join(["1"] * 999) + "]\n"
    with pytest.raises(ConfigError) as info:
        load_yaml(anchor + "".join(f"u{i}: *b\n" for i in range(MAX_VALUES // 1000)))
    assert f"more than {MAX_VALUES:,} values" in info.value.issues[0].reason
    half = "".join(f"u{i}: *b\n" for i in range(MAX_VALUES // 2000))
    assert load_yaml(anchor + half).data["u99"] == [1] * 999
