"""YAML reading: line numbers, duplicate keys and the YAML 1.1 traps."""

from __future__ import annotations

import math

import pytest

from edge_controller.config_yaml import ConfigError, load_yaml


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
