"""Strict YAML reading for the site config: line numbers kept, YAML 1.1 traps defused.

PyYAML resolves plain scalars by YAML 1.1 rules, where ``no`` is False, ``010`` is 8 and ``1:30`` is
90. An installer never means that, so plain scalars are resolved here with narrow rules instead:
only true/false are booleans, only plain decimal, ``0x``/``0o`` numbers are integers, and anything
ambiguous stays a string for the typed model to read as the field's type asks (``"010"`` → 10 for
an integer field, ``"no"`` → False for a boolean field, ``"1:30"`` → an error for a number field).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

PathKey = tuple[str | int, ...]

_NULL = re.compile(r"^(~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_HEX = re.compile(r"^[-+]?0x[0-9a-fA-F_]+$")
_OCT = re.compile(r"^[-+]?0o[0-7_]+$")
_FLOAT = re.compile(
    r"^[-+]?(\d[\d_]*\.\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|\d[\d_]*[eE][-+]?\d+)$"
)
_SPECIAL_FLOAT = {".inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file, located by YAML path and line."""

    path: str
    reason: str
    line: int | None = None
    origin: str | None = None  # e.g. the environment variable a bad value came from

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else (self.origin or "no line")
        if self.origin and self.line is None:
            where = f"from {self.origin}"
        return f"{self.path or '<root>'} ({where}): {self.reason}"


class ConfigError(Exception):
    """The config cannot be used; carries every issue found, not only the first."""

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        lines = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(f"{source}: {len(issues)} problem(s) in the configuration:\n{lines}")


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class LoadedYaml:
    data: dict[str, Any]
    lines: dict[PathKey, int] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)

    def line_of(self, path: PathKey) -> int | None:
        """Line of the deepest known prefix of ``path`` (a missing key points at its parent)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def _plain_scalar(text: str) -> Any:
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _HEX.match(text):
        return int(text.replace("_", ""), 16)
    if _OCT.match(text):
        return int(text.replace("_", "").replace("0o", ""), 8)
    if _FLOAT.match(text):
        return float(text.replace("_", ""))
    if text.lower() in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[text.lower()]
    return text


class _Builder:
    def __init__(self) -> None:
        self.lines: dict[PathKey, int] = {}
        self.issues: list[ConfigIssue] = []

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return self._sequence(node, path)
        assert isinstance(node, yaml.ScalarNode)
        if node.style is None:
            return _plain_scalar(str(node.value))
        return str(node.value)

    def _sequence(self, node: yaml.SequenceNode, path: PathKey) -> list[Any]:
        items = []
        for index, child in enumerate(node.value):
            self.lines[(*path, index)] = child.start_mark.line + 1
            items.append(self.build(child, (*path, index)))
        return items

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<":
                for source in _merge_sources(value_node):
                    for key, value in self._mapping(source, path).items():
                        merged.setdefault(key, value)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.issues.append(ConfigIssue(format_path(path), "keys must be plain names", line))
                continue
            key = str(key_node.value)
            if key in result:
                first = self.lines.get((*path, key))
                self.issues.append(
                    ConfigIssue(
                        format_path((*path, key)),
                        f"duplicate key (first given on line {first}); remove one of them",
                        line,
                    )
                )
                continue
            self.lines[(*path, key)] = line
            result[key] = self.build(value_node, (*path, key))
        for key, value in merged.items():
            result.setdefault(key, value)
        return result


def _merge_sources(node: yaml.Node) -> list[yaml.MappingNode]:
    if isinstance(node, yaml.MappingNode):
        return [node]
    if isinstance(node, yaml.SequenceNode):
        return [n for n in node.value if isinstance(n, yaml.MappingNode)]
    return []


def load_yaml(text: str, source: str = "<config>") -> LoadedYaml:
    """Parse ``text``; raise ConfigError for syntax errors; return data, lines and soft issues."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, [ConfigIssue("", f"YAML syntax: {exc.problem}", line)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, [ConfigIssue("", f"YAML syntax: {exc}")]) from exc
    if root is None:
        raise ConfigError(source, [ConfigIssue("", "the file is empty")])
    builder = _Builder()
    data = builder.build(root, ())
    if not isinstance(data, dict):
        raise ConfigError(
            source, [ConfigIssue("", "the top level must be a mapping of sections", 1)]
        )
    return LoadedYaml(data=data, lines=builder.lines, issues=builder.issues)
