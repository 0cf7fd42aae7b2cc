"""One token per tap: decides when a card on a reader is a new tap. Pure.

pcsc-lite counts card events per reader in the upper 16 bits of the event state; a changed
count while a card is present means it was lifted and tapped again between two looks.
After the daemon or the reader was lost the count is unknown; a card found then is a new tap
only if its id differs from the card that was resting before the loss.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TapDetector:
    present: bool = False
    event_count: int | None = None
    resting_id: bytes | None = None
    uncertain: bool = False

    def observe(self, present: bool, event_count: int) -> bool:
        """Record a reader state; True when the card on it must be read."""
        arrived = present and (
            not self.present or (self.event_count is not None and event_count != self.event_count)
        )
        if not present:
            self.resting_id = None
            self.uncertain = False
        self.present = present
        self.event_count = event_count
        return arrived

    def card_read(self, card_id: bytes) -> bool:
        """Record the id read after an arrival; True when it is a new tap."""
        repeat = self.uncertain and card_id == self.resting_id
        self.resting_id = card_id
        self.uncertain = False
        return not repeat

    def read_failed(self) -> None:
        # The card stays "seen": reading it again on every state change (our own connection
        # toggles SCARD_STATE_INUSE) would hammer it. Lifting and tapping again retries.
        self.resting_id = None
        self.uncertain = False

    def lost(self) -> None:
        """The reader or the daemon went away: what happened meanwhile is unknown."""
        self.present = False
        self.event_count = None
        self.uncertain = self.resting_id is not None
