"""The display board: what the site's CSMS stations set for drivers to see (display messages,
a 1.6 CSMS's payment URL template, connectors held for a web payment), for the faces that show
things to drivers (the display page, MQTT). A channel made before the uplink that writes it and
the faces that read it; the uplink keeps what must survive a restart."""

from __future__ import annotations

from collections.abc import Sequence

from edge_controller.domain.display_messages import DisplayMessage
from edge_controller.domain.web_payment import PaymentHold


class MessageBoard:
    def __init__(self) -> None:
        self._by_station: dict[str, tuple[DisplayMessage, ...]] = {}
        self._templates: dict[str, str] = {}
        self._holds: dict[str, PaymentHold] = {}

    def replace(self, station: str, messages: Sequence[DisplayMessage]) -> None:
        self._by_station[station] = tuple(messages)

    def messages(self) -> tuple[DisplayMessage, ...]:
        return tuple(m for found in self._by_station.values() for m in found)

    def set_template(self, station: str, template: str | None) -> None:
        if template:
            self._templates[station] = template
        else:
            self._templates.pop(station, None)

    def templates(self) -> dict[str, str]:
        """The payment URL templates CSMSs set, by station (OCPP identity)."""
        return dict(self._templates)

    def hold(self, hold: PaymentHold) -> None:
        self._holds[hold.connector_id] = hold

    def holds(self) -> dict[str, PaymentHold]:
        """Web payment holds by connector; one is live while its connector shows its
        reservation (the session side drops it at its end or at the start)."""
        return dict(self._holds)
