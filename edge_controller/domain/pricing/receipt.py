"""A finished session's receipt: JSON for programs, one self-contained HTML page for people.

The receipt is built from what the session stored (its registers, times, tariff and the cost
breakdown priced at its stop), so it reads the same however often it is made; its id is the
site's id and the session's. Amounts are decimal strings in the currency's minor unit; the
lines, the taxes and the total add up to the cent (the breakdown is cut so). A session paid at
a card terminal shows its payment (reserved, captured, the terminal's receipt lines); the
payment method and reference are null for the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

Json = dict[str, Any]
COMPONENT_NAMES = {
    "energy": "Energy",
    "charging_time": "Charging time",
    "idle_time": "Idle time",
    "fixed": "Session fee",
    "reservation_time": "Reservation time",
    "reservation_fixed": "Reservation fee",
    "cost_limit": "Minimum / maximum price",
}


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    """What a receipt says, as the session recorded it."""

    site_id: str
    session_id: int
    connector_id: str
    id_tag: str  # as it may be printed (masked unless asked otherwise)
    started_at: datetime
    stopped_at: datetime
    start_register_wh: int
    stop_register_wh: int
    stop_reason: str | None
    # {"id", "version", "source", "descriptions", "changes": [{"at_s", "id", "version",
    # "source"}] (2.1 ChangeTransactionTariff)}; None: not priced
    tariff: Json | None
    breakdown: Json | None  # ``codec.breakdown_to_json``; None: not priced
    # {"method", "reference", "terminal_id", "card_name", "reserved", "captured", "state",
    # "terminal_receipt", "terminal_status"}; None: not paid at a terminal
    payment: Json | None = None


def receipt_id(site_id: str, session_id: int) -> str:
    return f"{site_id}-{session_id:08d}"


def receipt_json(facts: ReceiptFacts, zone: tzinfo) -> Json:
    cost = facts.breakdown
    return {
        "receipt_id": receipt_id(facts.site_id, facts.session_id),
        "site_id": facts.site_id,
        "session_id": facts.session_id,
        "connector_id": facts.connector_id,
        "id_tag": facts.id_tag,
        "started_at": _utc(facts.started_at),
        "stopped_at": _utc(facts.stopped_at),
        "started_local": facts.started_at.astimezone(zone).isoformat(),
        "stopped_local": facts.stopped_at.astimezone(zone).isoformat(),
        "stop_reason": facts.stop_reason,
        "energy": {
            "start_register_wh": facts.start_register_wh,
            "stop_register_wh": facts.stop_register_wh,
            "energy_wh": facts.stop_register_wh - facts.start_register_wh,
            "stop_register_unknown": bool(cost and cost.get("stop_register_unknown")),
        },
        "tariff": facts.tariff,
        "currency": None if cost is None else cost["currency"],
        "type_of_cost": None if cost is None else cost["type_of_cost"],
        "lines": [] if cost is None else cost["components"],
        "taxes": [] if cost is None else cost["taxes"],
        "total_excl_tax": None if cost is None else cost["total_excl_tax"],
        "total_incl_tax": None if cost is None else cost["total_incl_tax"],
        "periods": [] if cost is None else cost["periods"],
        "payment": facts.payment or {"method": None, "reference": None},
    }


def _payment_text(payment: Json, currency: str) -> str:
    if payment["method"] is None:
        return "-"
    captured = payment.get("captured")
    booked = f"{captured} {currency} captured" if captured is not None else payment["state"]
    return f"card at terminal {payment['terminal_id']} ({payment['card_name'] or 'card'}): {booked}"


def _tariff_text(tariff: Json, started_local: str) -> str:
    """The tariff, and each tariff it was changed to while charging, from when (site time)."""
    text = f"{tariff.get('id', '-')} version {tariff.get('version', '-')}"
    zone = datetime.fromisoformat(started_local).tzinfo
    for change in tariff.get("changes") or ():
        local = datetime.fromtimestamp(change["at_s"], zone).strftime("%H:%M:%S")
        text += f"; from {local} {change['id']} version {change['version']}"
    return text


def _utc(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def receipt_html(receipt: Json) -> str:
    """The receipt as one HTML page with its style inside (prints on one A4 page)."""
    # Imported here: ``html`` builds its table of 2,231 named entities (0.3 MB of objects) on
    # import, which a daemon without its web console would hold for nothing.
    from html import escape

    currency = receipt["currency"] or ""
    rows = "".join(
        f"<tr><td>{escape(COMPONENT_NAMES.get(line['component'], line['component']))}</td>"
        f"<td class=n>{escape(line['excl_tax'])}</td><td class=n>{escape(line['incl_tax'])}</td>"
        "</tr>"
        for line in receipt["lines"]
    )
    taxes = "".join(
        f"<tr><td>{escape(t['name'])}"
        + ("" if t["percent"] is None else f" {escape(t['percent'])} %")
        + f"</td><td class=n></td><td class=n>{escape(t['amount'])}</td></tr>"
        for t in receipt["taxes"]
    )
    energy = receipt["energy"]
    tariff = receipt["tariff"] or {}
    flag = (
        "<p class=note>The stop register is not known (power loss): the energy ends at the "
        "last recorded reading.</p>"
        if energy["stop_register_unknown"]
        else ""
    )
    total = (
        f"<tr class=t><td>Total</td><td class=n>{escape(receipt['total_excl_tax'])}</td>"
        f"<td class=n>{escape(receipt['total_incl_tax'])} {escape(currency)}</td></tr>"
        if receipt["total_incl_tax"] is not None
        else "<tr class=t><td colspan=3>Not priced: no tariff applied to this session</td></tr>"
    )
    facts = [
        ("Receipt", receipt["receipt_id"]),
        ("Site", receipt["site_id"]),
        ("Connector", receipt["connector_id"]),
        ("Started", receipt["started_local"]),
        ("Stopped", receipt["stopped_local"]),
        ("Meter at start", f"{energy['start_register_wh']} Wh"),
        ("Meter at stop", f"{energy['stop_register_wh']} Wh"),
        ("Energy", f"{energy['energy_wh']} Wh"),
        ("Tariff", _tariff_text(tariff, receipt["started_local"])),
        ("Identification", receipt["id_tag"]),
        ("Payment", _payment_text(receipt["payment"], currency)),
    ]
    listed = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    printed = receipt["payment"].get("terminal_receipt") or []  # as the card terminal printed
    shown = receipt["payment"].get("terminal_status") or []  # what it showed the card holder
    terminal = ""
    if printed or shown:
        terminal = f"<h2>Card terminal</h2><pre>{escape(chr(10).join(printed))}</pre>"
    if shown:
        terminal += f"<p>Terminal showed: {escape(', '.join(shown))}</p>"
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>Receipt {escape(receipt['receipt_id'])}</title><style>"
        "body{font-family:sans-serif;max-width:40em;margin:2em auto}"
        "table{border-collapse:collapse;width:100%;margin:1em 0}"
        "th,td{text-align:left;padding:.2em .4em}td.n{text-align:right}"
        "tr.t td{border-top:2px solid #000;font-weight:bold}.note{color:#a00}"
        "</style></head><body>"
        f"<h1>Charging receipt</h1><table>{listed}</table>{flag}"
        "<table><tr><th>Item</th><th>excl. tax</th><th>incl. tax</th></tr>"
        f"{rows}{taxes}{total}</table>{terminal}</body></html>\n"
    )
