"""The charging profiles installed by the CSMS for one identity, persisted with its state."""

from __future__ import annotations

from typing import Any

from edge_controller.domain import charging_profiles as cp
from edge_controller.log import get_logger
from edge_controller.uplink.config_store import ConfigStore
from edge_controller.uplink.wakeup import Wakeup

log = get_logger("uplink.smart")


class ProfileStore:
    def __init__(self, config: ConfigStore) -> None:
        self._config = config
        self._raw: list[dict[str, Any]] = []
        self.profiles: list[cp.Profile] = []
        self.changed = Wakeup()
        for entry in config.charging_profiles():
            try:
                self._add(int(entry["connector"]), entry["profile"])
            except (KeyError, ValueError, TypeError) as exc:
                log.error("stored charging profile dropped", error=repr(exc))

    def _add(self, connector: int, raw: dict[str, Any]) -> cp.Profile:
        profile = cp.parse(connector, raw)
        keep = [
            i
            for i, p in enumerate(self.profiles)
            if p.id != profile.id
            and (p.connector, p.purpose, p.stack_level)
            != (profile.connector, profile.purpose, profile.stack_level)
        ]
        self.profiles = [self.profiles[i] for i in keep] + [profile]
        self._raw = [self._raw[i] for i in keep] + [{"connector": connector, "profile": raw}]
        return profile

    def install(self, connector: int, raw: dict[str, Any]) -> cp.Profile:
        """Add or replace (same id, or same connector+purpose+stack level). Raises ValueError."""
        profile = self._add(connector, raw)
        self._saved()
        return profile

    def remove(self, wanted: Any) -> int:
        """Remove every profile for which ``wanted(profile)`` is true; returns how many."""
        keep = [i for i, p in enumerate(self.profiles) if not wanted(p)]
        removed = len(self.profiles) - len(keep)
        if removed:
            self.profiles = [self.profiles[i] for i in keep]
            self._raw = [self._raw[i] for i in keep]
            self._saved()
        return removed

    def bind_transaction(self, connector: int, transaction_id: int) -> None:
        """A TxProfile given with RemoteStartTransaction belongs to the transaction it started."""
        for index, profile in enumerate(self.profiles):
            pending = profile.transaction_id is None and profile.connector == connector
            if profile.purpose == "TxProfile" and pending:
                raw = dict(self._raw[index]["profile"], transactionId=transaction_id)
                self._raw[index] = {"connector": connector, "profile": raw}
                self.profiles[index] = cp.parse(connector, raw)
                self._saved()

    def _saved(self) -> None:
        self._config.set_charging_profiles(self._raw)
        self.changed.set()
