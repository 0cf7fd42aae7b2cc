"""Topic names under the site prefix; connector ids made topic-safe.

Connector ids are ``<charger id>:<n>``. In topics the last ``:`` becomes ``-`` (``wb1:1`` →
``wb1-1``); n is a number, so the last ``-`` splits the form back unambiguously.
"""

from __future__ import annotations

import re

COMMAND_NAMES = (
    "site_limit",
    "connector_limit",
    "connector_enabled",
    "session_start",
    "session_stop",
)
_TOPIC_CONNECTOR = re.compile(r"^(?P<charger>.+)-(?P<n>[0-9]+)$")


def connector_topic_id(connector_id: str) -> str:
    charger, sep, number = connector_id.rpartition(":")
    return f"{charger}-{number}" if sep else connector_id


def connector_id_from_topic_id(topic_id: str) -> str | None:
    match = _TOPIC_CONNECTOR.match(topic_id)
    return f"{match['charger']}:{match['n']}" if match else None


class Topics:
    """Every topic the service uses, built from one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def site_state(self) -> str:
        return f"{self.prefix}/site/state"

    @property
    def session_events(self) -> str:
        return f"{self.prefix}/sessions/events"

    @property
    def problem_events(self) -> str:
        return f"{self.prefix}/problems/events"

    @property
    def command_filter(self) -> str:
        return f"{self.prefix}/cmd/+"

    @property
    def site_messages(self) -> str:
        return f"{self.prefix}/site/messages"

    def connector_messages(self, connector_id: str) -> str:
        return f"{self.prefix}/connectors/{connector_topic_id(connector_id)}/messages"

    def connector_payment(self, connector_id: str) -> str:
        return f"{self.prefix}/connectors/{connector_topic_id(connector_id)}/payment"

    def connector_state(self, connector_id: str) -> str:
        return f"{self.prefix}/connectors/{connector_topic_id(connector_id)}/state"

    def device_state(self, device_id: str) -> str:
        return f"{self.prefix}/devices/{device_id}/state"

    def child_state(self, child_id: str) -> str:
        return f"{self.prefix}/children/{child_id}/state"

    @property
    def child_state_filter(self) -> str:
        return f"{self.prefix}/children/+/state"

    def child_id(self, topic: str) -> str | None:
        """The child id of a ``children/<child>/state`` topic under the prefix, else None."""
        head, tail = f"{self.prefix}/children/", "/state"
        if not (topic.startswith(head) and topic.endswith(tail)):
            return None
        child_id = topic[len(head) : -len(tail)]
        return child_id if child_id and "/" not in child_id else None

    def command(self, name: str) -> str:
        return f"{self.prefix}/cmd/{name}"

    def command_response(self, name: str) -> str:
        return f"{self.prefix}/cmd/{name}/response"

    def is_reply_topic(self, topic: str) -> bool:
        """An MQTT 5 response topic we answer on: under ``<prefix>/cmd/`` but at least two
        levels deep (never a command topic), no wildcards. Other topics are not written, so a
        command sender cannot make the controller overwrite state or discovery topics."""
        head = f"{self.prefix}/cmd/"
        rest = topic[len(head) :]
        return topic.startswith(head) and "/" in rest.strip("/") and not set("+#") & set(rest)

    def command_name(self, topic: str) -> str | None:
        """The command name of a topic under ``<prefix>/cmd/``, else None."""
        head = f"{self.prefix}/cmd/"
        if not topic.startswith(head):
            return None
        name = topic[len(head) :]
        return name if name and "/" not in name else None
