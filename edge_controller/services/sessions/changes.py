"""Which connectors' session-side fields may have changed (the status shown, the session, the
reservation, the plug wait, the note, the prices), for each reader that joins views only for
those: a reader takes what was marked since its last turn.

Marks come where the fields change; what changes with time alone (a plug wait or a note running
out, a reservation expiring, a price of a time of day) is not marked: ``SessionManager``'s
``shown_until_s`` says until when a joined view holds."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Changed:
    """One reader's marks: connector ids, or every connector (a tariff or reservation change)."""

    ids: set[str] = field(default_factory=set)
    every: bool = False

    def take(self) -> tuple[set[str], bool]:
        """What was marked since the last take (ids, every connector), and forget it."""
        ids, every = self.ids, self.every
        self.ids, self.every = set(), False
        return ids, every


class ShownChanges:
    def __init__(self) -> None:
        self._readers: list[Changed] = []

    def reader(self) -> Changed:
        """A new reader: it sees every change marked from now on."""
        found = Changed()
        self._readers.append(found)
        return found

    def mark(self, connector_id: str | None) -> None:
        """A connector's fields changed (None: any connector's may have)."""
        for reader in self._readers:
            if connector_id is None:
                reader.every = True
            else:
                reader.ids.add(connector_id)
