"""Cost as a CSMS calculates it (central cost calculation), shown as it was sent.

The site does not price such a figure again: it shows it next to its own running cost (a CSMS
may know of prices the site does not, e.g. a driver's contract). OCPP 1.6 brings it with the
Open Charge Alliance's pricing extension (DataTransfer ``org.openchargealliance.costmsg``:
RunningCost, FinalCost, SetUserPrice); 2.x with CostUpdated and TransactionEventResponse.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class CentralCost:
    """A running or final cost from the CSMS, in the CSMS's currency, tax included."""

    cost: Decimal
    final: bool
    at_s: float | None = None  # when the CSMS computed it (running cost)
    meter_wh: int | None = None  # the register it computed it at (running cost)
    charging: bool | None = None  # the CSMS's view: charging (True) or idle (False)
    price_text: str | None = None  # its text for the driver (final cost)
    qr_code_text: str | None = None  # e.g. a link to the receipt (final cost)

    def shown(self) -> dict[str, Any]:
        return {
            "cost": str(self.cost),
            "final": self.final,
            "at_s": self.at_s,
            "meter_wh": self.meter_wh,
            "charging": self.charging,
            "price_text": self.price_text,
            "qr_code_text": self.qr_code_text,
        }
