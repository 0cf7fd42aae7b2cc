"""The display board: every display message the site's CSMS stations set, for the faces that
show things to drivers (the display page, MQTT). A channel made before the uplink that writes
it and the faces that read it; the uplink keeps the messages durable."""

from __future__ import annotations

from collections.abc import Sequence

from edge_controller.domain.display_messages import DisplayMessage


class MessageBoard:
    def __init__(self) -> None:
        self._by_station: dict[str, tuple[DisplayMessage, ...]] = {}
        self.version = 0  # moves on with every change

    def replace(self, station: str, messages: Sequence[DisplayMessage]) -> None:
        self._by_station[station] = tuple(messages)
        self.version += 1

    def messages(self) -> tuple[DisplayMessage, ...]:
        return tuple(m for found in self._by_station.values() for m in found)
