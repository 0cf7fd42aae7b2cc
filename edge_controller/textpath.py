"""A file name kept as text and handed out as a ``Path``: a Path with its parts is about 370
bytes, its text about 110, and each OCPP identity keeps seven file names (a state file, a key,
online periods, certificates, network profiles, a security log, an ack journal): over a
megabyte at a thousand identities. A Path is made at each use, which costs microseconds next to
the file operation it serves."""

from __future__ import annotations

from pathlib import Path
from typing import overload


class TextPath:
    """A ``Path`` attribute stored as its text in ``_<name>_text`` of the instance."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}_text"

    @overload
    def __get__(self, instance: None, owner: type) -> TextPath: ...
    @overload
    def __get__(self, instance: object, owner: type) -> Path: ...
    def __get__(self, instance: object | None, owner: type) -> TextPath | Path:
        if instance is None:
            return self
        text: str = getattr(instance, self._slot)
        return Path(text)

    def __set__(self, instance: object, value: Path) -> None:
        setattr(instance, self._slot, str(value))


class OptionalTextPath:
    """As ``TextPath``, for a name that may be absent (None: kept in memory only)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}_text"

    @overload
    def __get__(self, instance: None, owner: type) -> OptionalTextPath: ...
    @overload
    def __get__(self, instance: object, owner: type) -> Path | None: ...
    def __get__(self, instance: object | None, owner: type) -> OptionalTextPath | Path | None:
        if instance is None:
            return self
        text: str | None = getattr(instance, self._slot)
        return None if text is None else Path(text)

    def __set__(self, instance: object, value: Path | None) -> None:
        setattr(instance, self._slot, None if value is None else str(value))
