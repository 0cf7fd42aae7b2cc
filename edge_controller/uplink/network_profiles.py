"""Network connection profiles a CSMS sets (OCPP 2.x SetNetworkProfile), and the security
profile floor.

A profile the CSMS sets is stored in its slot and tried at the next connect; when it
connects it becomes the one in use, when it fails the station goes back to the one before
(the configured one at first). The security profile never goes down: the highest one the
station ever connected with is the floor, a profile below it is refused when set and never
used to connect. Kept per identity in a small JSON file, replaced atomically.

A priority (OCPPCommCtrlr NetworkConfigurationPriority: stored slots, first tried first) makes
the station connect with its first profile (a profile set then is only stored); after
``attempts`` failed connects in a row with one (NetworkProfileConnectionAttempts) it tries the
next, then the configured one, then the first again. A process starts again at the first; a
dropped link is tried again with the profile that worked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_controller.log import get_logger
from edge_controller.textpath import TextPath
from edge_controller.uplink.json_file import write_json_atomically

log = get_logger("uplink.network")
CONFIGURED = -1  # the slot of the profile the configuration file gives


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    url: str
    security_profile: int
    message_timeout_s: float
    slot: int = CONFIGURED


def check_profile(payload: dict[str, Any], floor: int, client_cert: bool, secret: bool) -> str:
    """Why a SetNetworkProfile ``connectionData`` cannot be used ("" when it can). Pure."""
    data = payload
    profile = int(data["securityProfile"])
    url = str(data["ocppCsmsUrl"])
    if data.get("ocppTransport") != "JSON":
        return "only OCPP-J (JSON) is spoken"
    if data.get("ocppVersion", "OCPP20") in ("OCPP12", "OCPP15", "OCPP16"):
        return "the profile names an OCPP version this connection does not use"
    if profile < floor:
        return f"security profile {profile} is below {floor}, the one already in use"
    if not url.startswith(("ws://", "wss://")):
        return "the CSMS URL is no ws:// or wss:// URL"
    if profile >= 2 and not url.startswith("wss://"):
        return "security profiles 2 and 3 need a wss:// URL"
    if profile in (1, 2) and not secret:
        return "no password for HTTP Basic authentication"
    if profile == 3 and not client_cert:
        return "no client certificate for security profile 3"
    return ""


class NetworkProfiles:
    path = TextPath()  # kept as text

    def __init__(self, path: Path, configured: NetworkProfile) -> None:
        self.path = path
        self.configured = configured
        self._slots: dict[int, NetworkProfile] = {}
        self._pending: int | None = None
        self._active: int | None = None
        self.floor = 0
        self.priority: tuple[int, ...] = ()
        self._place = 0  # in ``order()``: the profile tried now
        self._failures = 0  # failed connects in a row with it
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._slots = {int(k): NetworkProfile(**v) for k, v in data["slots"].items()}
            self._pending, self._active = data["pending"], data["active"]
            self.floor = int(data["floor"])
            self.priority = tuple(int(slot) for slot in data.get("priority", ()))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("network profile file unreadable", path=str(self.path), error=str(exc))

    def _save(self) -> None:
        data = {
            "slots": {str(k): asdict(v) for k, v in self._slots.items()},
            "pending": self._pending,
            "active": self._active,
            "floor": self.floor,
            "priority": list(self.priority),
        }
        write_json_atomically(self.path, data)

    def set(self, profile: NetworkProfile) -> None:
        """Store ``profile`` in its slot; it is tried at the next connect, unless a priority
        decides which is."""
        self._slots[profile.slot] = profile
        self._pending = None if self.priority else profile.slot
        self._save()

    def in_use(self) -> NetworkProfile:
        """The profile that last connected (the configured one at first)."""
        if self._active is not None and self._active in self._slots:
            return self._slots[self._active]
        return self.configured

    def order(self) -> list[NetworkProfile]:
        """The profiles the priority names, usable ones only, then the configured one."""
        found = [self._slots[slot] for slot in self.priority if slot in self._slots]
        usable = [p for p in found if p.security_profile >= self.floor]
        return [*usable, self.configured]

    def next_attempt(self) -> NetworkProfile:
        if self._pending is not None and self._pending in self._slots:
            return self._slots[self._pending]
        if self.priority:
            order = self.order()
            return order[self._place % len(order)]
        return self.in_use()

    def why_not_priority(self, slots: tuple[int, ...]) -> str:
        """Why ``slots`` cannot be the priority ("" when it can). Pure."""
        if len(set(slots)) != len(slots):
            return "a slot is named twice"
        for slot in slots:
            profile = self._slots.get(slot)
            if profile is None:
                return f"slot {slot} holds no network profile"
            if profile.security_profile < self.floor:
                level = profile.security_profile
                return f"slot {slot} has security profile {level}, below {self.floor}"
        return ""

    def set_priority(self, slots: tuple[int, ...]) -> None:
        """Keep a checked priority (``why_not_priority``); the next connect tries its first."""
        self.priority = slots
        self._place, self._failures = 0, 0
        self._pending = None  # the priority decides from now on
        self._save()

    def connected(self, profile: NetworkProfile) -> None:
        """``profile`` connected: it is the one in use, and the floor rises to it."""
        active = CONFIGURED if self._active is None else self._active
        changed = profile.slot != active or profile.security_profile > self.floor
        self._failures = 0
        order = self.order()
        if self.priority and profile in order:
            self._place = order.index(profile)  # tried again first when the link drops
        if profile.slot == self._pending or (self.priority and profile.slot != active):
            self._active = None if profile.slot == CONFIGURED else profile.slot
            self._pending = None if profile.slot == self._pending else self._pending
        self.floor = max(self.floor, profile.security_profile)
        if changed:
            self._save()

    def failed(self, profile: NetworkProfile, attempts: int = 1) -> bool:
        """``profile`` did not connect: a new one is given up (True), the one before is
        tried next; with a priority, after ``attempts`` failures in a row the next is."""
        if profile.slot != CONFIGURED and profile.slot == self._pending:
            self._pending = None
            self._save()
            log.warning("new network profile did not connect; back to the one before",
                        slot=profile.slot)  # fmt: skip
            return True
        if not self.priority:
            return False
        self._failures += 1
        if self._failures >= max(1, attempts):
            self._place, self._failures = self._place + 1, 0
            log.warning("network profile did not connect; trying the next by priority",
                        slot=profile.slot, next_slot=self.next_attempt().slot)  # fmt: skip
        return False
