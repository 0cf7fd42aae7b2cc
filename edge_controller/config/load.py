"""Load the site config: YAML + environment → Settings, or every problem at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from edge_controller.config.checks import check_references, check_settings
from edge_controller.config.settings import ENV_PREFIX, Settings
from edge_controller.config.yaml_reader import (
    ConfigError,
    ConfigIssue,
    LoadedYaml,
    PathKey,
    format_path,
    load_yaml,
    read_text,
)

_SECRET_WORDS = ("password", "secret", "key")
_ECHO_CHARS = 60  # a wrong value is quoted back up to this length


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config and what in it may not be what the installer meant."""

    settings: Settings
    warnings: list[ConfigIssue] = field(default_factory=list)


def _data_path(loc: tuple[int | str, ...], data: Any) -> PathKey:
    """Drop pydantic's union tags from ``loc`` so it names the YAML keys the installer wrote."""
    path: list[str | int] = []
    current: Any = data
    for part in loc:
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and part < len(current)
        if in_dict or in_list:
            path.append(part)
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str) and part == current.get("type"):
            continue  # discriminated-union tag, not a key
        elif isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        else:
            path.append(part)
            current = None
    return tuple(path)


def _model_at(path: PathKey) -> type[BaseModel] | None:
    """The section model that owns the keys at ``path`` (for "did you mean" hints)."""
    model: type[BaseModel] | None = Settings
    data_keyed = {"buses", "chargers", "meters", "readers", "feeders", "connectors"}
    skip_next = False
    for part in path:
        if skip_next or isinstance(part, int):  # a key the installer chose, a list index
            skip_next = False
            continue
        if model is None or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        args = getattr(annotation, "__args__", ())
        inner = args[-1] if part in data_keyed and args else _model_in(annotation)
        model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
        skip_next = part in data_keyed
    return model


def _model_in(annotation: Any) -> Any:
    """The section model inside ``X | None`` or ``list[X]`` (else the annotation itself)."""
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation


def _reason(err: ErrorDetails, path: PathKey) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        model = _model_at(path[:-1])
        hint = ""
        if model is not None:
            import difflib  # for a refused config only: the daemon need not hold it

            close = difflib.get_close_matches(str(path[-1]), list(model.model_fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown key{hint}"
    message = err["msg"].removeprefix("Value error, ")
    secret = any(word in str(p).lower() for p in path for word in _SECRET_WORDS)
    if isinstance(value, str | int | float | bool) and not secret:
        shown = repr(value)
        if len(shown) > _ECHO_CHARS:
            shown = f"{shown[:_ECHO_CHARS]}... ({len(shown)} characters)"
        message += f" (got {shown})"
    if isinstance(value, str) and ":" in value and kind.startswith(("int", "float")):
        message += "; write the number plainly (YAML 1.1 would read 1:30 as 90)"
    return message


def _env_origin(path: PathKey) -> str | None:
    name = ENV_PREFIX + "__".join(str(p) for p in path)
    for key in os.environ:
        if key.upper() == name.upper():
            return key
    return None


def issues_from_validation(exc: ValidationError, loaded: LoadedYaml) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors():
        path = _data_path(tuple(err["loc"]), loaded.data)
        origin = _env_origin(path)
        line = None if origin else loaded.line_of(path)
        issues.append(ConfigIssue(format_path(path), _reason(err, path), line, origin))
    return issues


def default_profiles() -> dict[str, str]:
    from edge_controller.drivers.registry import profile_kinds

    return profile_kinds()


def _env_issues() -> list[ConfigIssue]:
    """Variables with our prefix whose section does not exist: pydantic would ignore them."""
    issues = []
    sections = list(Settings.model_fields)
    for name in os.environ:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        section = name[len(ENV_PREFIX) :].split("__", 1)[0].lower()
        if section in sections:
            continue
        import difflib  # see _reason

        close = difflib.get_close_matches(section, sections, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (sections: {', '.join(sections)})"
        reason = f"unknown section '{section}'{hint}"
        issues.append(ConfigIssue(section, reason, origin=name))
    return issues


def load_config(path: Path, profiles: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read and validate ``path``; raise ConfigError listing every problem found."""
    loaded = load_yaml(read_text(path), str(path))
    return config_from_yaml(loaded, str(path), default_profiles() if profiles is None else profiles)


def load_settings(path: Path, profiles: Mapping[str, str] | None = None) -> Settings:
    """``load_config`` without the warnings."""
    return load_config(path, profiles).settings


def _issue(loaded: LoadedYaml, path: PathKey, reason: str) -> ConfigIssue:
    origin = _env_origin(path)
    return ConfigIssue(format_path(path), reason, None if origin else loaded.line_of(path), origin)


def config_from_yaml(loaded: LoadedYaml, source: str, profiles: Mapping[str, str]) -> LoadedConfig:
    issues = list(loaded.issues) + _env_issues()
    settings: Settings | None = None
    try:
        settings = Settings(**loaded.data)
    except ValidationError as exc:
        # A value the reader already refused (a 4,000-digit number) is not reported twice.
        known = {issue.path for issue in loaded.issues}
        issues += [i for i in issues_from_validation(exc, loaded) if i.path not in known]
    merged = settings.model_dump(mode="python") if settings is not None else loaded.data
    for ref_path, reason in check_references(merged, profiles):
        issues.append(ConfigIssue(format_path(ref_path), reason, loaded.line_of(ref_path)))
    warnings: list[ConfigIssue] = []
    if settings is not None:
        findings = check_settings(settings)
        issues += [_issue(loaded, path, reason) for path, reason in findings.errors]
        warnings = [_issue(loaded, path, reason) for path, reason in findings.warnings]
    if issues or settings is None:
        issues.sort(key=lambda i: (i.line is None, i.line or 0, i.path))
        raise ConfigError(source, issues)
    return LoadedConfig(settings, warnings)
