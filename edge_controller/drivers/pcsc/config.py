"""What the PC/SC driver needs to know about one configured reader (built from the settings)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

FeedbackKind = Literal["auto", "none", "acr122"]


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    reader_id: str
    name_pattern: str  # regular expression searched in the PC/SC reader name
    reverse_uid: bool = False  # the reader sends the UID least significant byte first
    uid_from_atr: bool = False  # derive an id from the ATR when the card reports no UID
    feedback: FeedbackKind = "auto"  # "auto": by reader name


def bind_readers(configs: Sequence[ReaderConfig], names: Sequence[str]) -> dict[str, str | None]:
    """Give each configured reader the first PC/SC name (sorted) that matches and is not taken.

    Sorting keeps the binding stable when the daemon lists readers in another order.
    """
    taken: set[str] = set()
    bound: dict[str, str | None] = {}
    for config in configs:
        pattern = re.compile(config.name_pattern)
        match = next((n for n in sorted(names) if n not in taken and pattern.search(n)), None)
        if match is not None:
            taken.add(match)
        bound[config.reader_id] = match
    return bound
