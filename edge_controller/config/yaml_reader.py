"""Strict YAML reading for the site config: line numbers kept, YAML 1.1 traps defused.

PyYAML resolves plain scalars by YAML 1.1 rules, where ``no`` is False, ``010`` is 8 and ``1:30`` is
90. An installer never means that, so plain scalars are resolved here with narrow rules instead:
only true/false are booleans, only plain decimal, ``0x``/``0o`` numbers are integers, and anything
ambiguous stays a string for the typed model to read as the field's type asks (``"010"`` → 10 for
an integer field, ``"no"`` → False for a boolean field, ``"1:30"`` → an error for a number field).

Reading is bounded in time and memory whatever the file holds: its size, its nesting depth and the
number of values it stands for once every alias is expanded are limited and checked on the event
stream before anything is built (a few nested aliases can stand for billions of values), and
a number too long to be a setting is refused before Python converts it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.reader import ReaderError

PathKey = tuple[str | int, ...]

MAX_FILE_BYTES = 1 << 20  # a 1,000-connector site with comments is a few hundred kB
MAX_DEPTH = 32  # the deepest key of a site config is six levels down
MAX_VALUES = 200_000  # keys, values and collections once aliases are expanded
MAX_NUMBER_CHARS = 64  # longer digit strings are no setting (and Python stops at 4,300 digits)
# libyaml parses about fifty times faster than the pure-Python reader; both give the same events.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

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
        text = str(node.value)
        if node.style not in (None, ""):  # quoted or block text (libyaml calls plain "")
            return text
        if len(text) > MAX_NUMBER_CHARS and _looks_numeric(text):
            reason = f"a number of {len(text)} characters: no setting takes one that long"
            self.issues.append(ConfigIssue(format_path(path), reason, node.start_mark.line + 1))
            return None
        return _plain_scalar(text)

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


def _looks_numeric(text: str) -> bool:
    return any(pattern.match(text) for pattern in (_INT, _HEX, _OCT, _FLOAT))


def read_text(path: Path) -> str:
    """The config file's text: at most MAX_FILE_BYTES, UTF-8; ConfigError naming the problem."""
    source = str(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = f"cannot read the file: {exc.strerror}"
        raise ConfigError(source, [ConfigIssue("", reason)]) from exc
    if len(data) > MAX_FILE_BYTES:
        reason = (
            f"the file is larger than {MAX_FILE_BYTES:,} bytes; a site config is a few kB"
            " (is this the right file?)"
        )
        raise ConfigError(source, [ConfigIssue("", reason)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        reason = (
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column {column} cannot be read;"
            " save the file as UTF-8"
        )
        raise ConfigError(source, [ConfigIssue("", reason, line)]) from exc


class _Shape:
    """Depth and expanded size of a YAML stream, counted on its events (nothing is built)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.anchors: dict[str, int] = {}  # anchor → values it stands for
        self.open: list[tuple[str | None, int]] = []  # (anchor, values so far) per collection
        self.total = 0

    def fail(self, event: yaml.Event, reason: str) -> ConfigError:
        mark = event.start_mark
        line = mark.line + 1 if mark is not None else None
        return ConfigError(self.source, [ConfigIssue("", reason, line)])

    def add(self, event: yaml.Event, values: int) -> None:
        if self.open:
            anchor, count = self.open[-1]
            self.open[-1] = (anchor, count + values)
        else:
            self.total += values
        if self.total + sum(count for _, count in self.open) > MAX_VALUES:
            raise self.fail(
                event,
                f"the file stands for more than {MAX_VALUES:,} values once its aliases (*name)"
                " are expanded; a site config has a few thousand",
            )

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.CollectionStartEvent):
            if len(self.open) >= MAX_DEPTH:
                raise self.fail(event, f"nested more than {MAX_DEPTH} levels deep")
            self.open.append((event.anchor, 1))
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, count = self.open.pop()
            if anchor is not None:
                self.anchors[anchor] = count
            self.add(event, count)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                self.anchors[event.anchor] = 1
            self.add(event, 1)
        elif isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in self.open):
                raise self.fail(event, f"alias *{event.anchor} refers to a value it is part of")
            self.add(event, self.anchors.get(str(event.anchor), 1))


def _events(text: str) -> Iterator[yaml.Event]:
    yield from yaml.parse(text, Loader=_LOADER)


def _syntax_error(exc: yaml.YAMLError, text: str, source: str) -> ConfigError:
    line: int | None = None
    problem = str(exc)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = str(exc.problem)
    elif isinstance(exc, ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        problem = f"character #x{code:04x} is not allowed in a YAML file"
    return ConfigError(source, [ConfigIssue("", f"YAML syntax: {problem}", line)])


def load_yaml(text: str, source: str = "<config>") -> LoadedYaml:
    """Parse ``text``; raise ConfigError for syntax errors and for a file too deep or too big
    once expanded; return data, lines and soft issues."""
    shape = _Shape(source)
    try:
        for event in _events(text):
            shape.feed(event)
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text, source) from exc
    if root is None:
        raise ConfigError(source, [ConfigIssue("", "the file is empty")])
    builder = _Builder()
    data = builder.build(root, ())
    if not isinstance(data, dict):
        raise ConfigError(
            source, [ConfigIssue("", "the top level must be a mapping of sections", 1)]
        )
    return LoadedYaml(data=data, lines=builder.lines, issues=builder.issues)
