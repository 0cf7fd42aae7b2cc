"""Persisted OCPP state of one identity: configuration values and connector availability.

A small JSON file per identity, replaced atomically (write temp, fsync, rename) off the event
loop, so a CSMS change survives a restart: an answer to the CSMS waits for ``written``.
Unreadable files are kept aside and defaults are used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_controller.log import get_logger
from edge_controller.textpath import TextPath
from edge_controller.uplink.json_file import JsonFileWriter

log = get_logger("uplink.config")


class OcppStateFile:
    path = TextPath()  # kept as text

    def __init__(self, path: Path, defaults: Mapping[str, str]) -> None:
        """``defaults``: read, never changed, so identities alike share one (a copy per
        identity, some eighty entries, was kilobytes each at a thousand identities); each
        file keeps only the values that differ from it."""
        self.path = path
        self._defaults = defaults
        self._values: dict[str, str] = {}
        self._inoperative: set[int] = set()
        self._profiles: list[dict[str, Any]] = []
        self._messages: list[dict[str, Any]] = []
        self._monitoring: dict[str, Any] = {}
        self._holds: list[dict[str, Any]] = []
        self._writer: JsonFileWriter | None = None  # made at the first change: most never change
        self._load()

    def _load(self) -> None:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
            values = {str(k): str(v) for k, v in data.get("configuration", {}).items()}
            inoperative = {int(n) for n in data.get("inoperative", [])}
            profiles = [dict(p) for p in data.get("charging_profiles", [])]
            messages = [dict(m) for m in data.get("display_messages", [])]
            monitoring = dict(data.get("variable_monitoring", {}))
            holds = [dict(h) for h in data.get("web_payment_holds", [])]
        except FileNotFoundError:
            return
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            log.error(
                "ocpp state file unreadable, using defaults", path=str(self.path), error=str(exc)
            )
            self.path.replace(self.path.with_suffix(".bad"))
            return
        defaults = self._defaults
        self._values = {k: v for k, v in values.items() if k in defaults and v != defaults[k]}
        self._inoperative = inoperative
        self._profiles = profiles
        self._messages = messages
        self._monitoring = monitoring
        self._holds = holds

    def _save(self) -> None:
        data = {
            "configuration": self.items(),
            "inoperative": sorted(self._inoperative),
            "charging_profiles": self._profiles,
            "display_messages": self._messages,
            "variable_monitoring": self._monitoring,
            "web_payment_holds": self._holds,
        }
        if self._writer is None:
            self._writer = JsonFileWriter(self.path)
        self._writer.write(data)

    def asked(self) -> int:
        """How many writes were asked for so far: the mark to give ``written``."""
        return 0 if self._writer is None else self._writer.asked()

    async def written(self, since: int = 0) -> None:
        """Every change made so far is on disk; raises the error of the newest write when it
        failed and a change was made after the mark ``since`` (from ``asked``)."""
        if self._writer is not None:
            await self._writer.written(since)

    def get(self, key: str) -> str | None:
        found = self._values.get(key)
        return self._defaults.get(key) if found is None else found

    def items(self) -> dict[str, str]:
        return {**self._defaults, **self._values}

    def set(self, key: str, value: str) -> None:
        if self.get(key) == value and self.path.exists():
            return  # a write for nothing
        self._values[key] = value
        self._save()

    def follow(self, key: str, value: str) -> None:
        """A value the CSMS gives again at every boot (HeartbeatInterval): written only when it
        differs from the one in use (written at each boot, 1,000 per-charger identities' fsyncs
        took over a minute)."""
        if self.get(key) != value:
            self.set(key, value)

    def int_value(self, key: str, fallback: int) -> int:
        value = self.get(key) or ""
        return int(value) if value.isdigit() else fallback

    def list_value(self, key: str) -> list[str]:
        return [v.strip() for v in (self.get(key) or "").split(",") if v.strip()]

    def inoperative(self, connector: int) -> bool:
        """Connector 0 stands for the whole charge point."""
        return connector in self._inoperative or 0 in self._inoperative

    def set_operative(self, connector: int, operative: bool) -> None:
        if operative:
            self._inoperative.discard(connector)
        else:
            self._inoperative.add(connector)
        self._save()

    def monitoring(self) -> dict[str, Any]:
        """The 2.x monitoring level and custom variable monitors (``v201.monitoring``)."""
        return dict(self._monitoring)

    def set_monitoring(self, monitoring: dict[str, Any]) -> None:
        self._monitoring = dict(monitoring)
        self._save()

    def charging_profiles(self) -> list[dict[str, Any]]:
        """Stored as ``{"connector": n, "profile": <csChargingProfiles>}``."""
        return [dict(p) for p in self._profiles]

    def set_charging_profiles(self, profiles: list[dict[str, Any]]) -> None:
        self._profiles = [dict(p) for p in profiles]
        self._save()

    def display_messages(self) -> list[dict[str, Any]]:
        """The CSMS's display messages as ``uplink.v201.display`` keeps them."""
        return [dict(m) for m in self._messages]

    def set_display_messages(self, messages: list[dict[str, Any]]) -> None:
        self._messages = [dict(m) for m in messages]
        self._save()

    def web_payment_holds(self) -> list[dict[str, Any]]:
        """Connectors held for a web payment, as ``uplink.v201.web_payment`` keeps them."""
        return [dict(h) for h in self._holds]

    def set_web_payment_holds(self, holds: list[dict[str, Any]]) -> None:
        self._holds = [dict(h) for h in holds]
        self._save()
