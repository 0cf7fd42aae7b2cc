"""`edge-controller sessions`: the sessions with energy, tariff and cost, their receipts, and
the revenue summed by day, month, connector or tariff.

Everything is read from the database as the sessions stored it (registers, the tariff that
priced them, the cost priced at their stop); nothing is priced again here. Rows stream: an export
holds one session in memory at a time. Revenue is summed in minor units (integers), so the
summary's totals equal the sum of the receipts to the cent.
"""

from __future__ import annotations

import csv
import io
import json
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal, TextIO

from edge_controller.domain.pricing import Currency, Money
from edge_controller.domain.pricing.receipt import ReceiptFacts, receipt_html, receipt_json
from edge_controller.domain.sessions.tokens import masked
from edge_controller.storage import history
from edge_controller.storage.history import HistoryRow

Format = Literal["table", "csv", "json"]
GroupBy = Literal["day", "month", "connector", "tariff", "method"]
# How a session was paid for or started: a card at a payment terminal, the CSMS (the operator's
# app or a web payment by QR code), an RFID card, free vend, or the entry point that started it.
METHODS = ("card_terminal", "csms", "rfid", "free_vend", "mqtt", "web", "operator")
STATUSES = ("running", "finished")
_METHOD_OF_SOURCE = {
    "payment_terminal": "card_terminal",
    "remote": "csms",
    "csms": "csms",
    "local": "rfid",
    "card": "rfid",
    "free": "free_vend",
}
COLUMNS = (
    "session_id",
    "connector_id",
    "id_tag",
    "started_at",
    "stopped_at",
    "start_register_wh",
    "stop_register_wh",
    "energy_wh",
    "tariff",
    "tariff_source",
    "currency",
    "excl_tax",
    "incl_tax",
    "payment_method",
    "stop_reason",
)


def payment_method(row: HistoryRow) -> str:
    """One of ``METHODS`` (an unknown source stands for itself)."""
    if row.paid_at_terminal:
        return "card_terminal"
    return _METHOD_OF_SOURCE.get(row.source, row.source)


@dataclass(frozen=True, slots=True)
class Query:
    """Which sessions: started in [from_date, to_date] (site-local days, both included), and
    optionally only one connector, payment method or status (``STATUSES``)."""

    database: Path
    site_id: str
    zone: tzinfo
    from_date: date | None = None
    to_date: date | None = None
    show_tokens: bool = False
    connector_id: str | None = None
    method: str | None = None
    status: str | None = None

    def wants(self, row: HistoryRow) -> bool:
        running = row.stop_at_s is None
        return (
            (self.connector_id is None or row.connector_id == self.connector_id)
            and (self.method is None or payment_method(row) == self.method)
            and (self.status is None or (self.status == "running") == running)
        )

    def bounds_s(self) -> tuple[float | None, float | None]:
        def start_of(day: date) -> float:
            return datetime.combine(day, time(0), self.zone).timestamp()

        low = None if self.from_date is None else start_of(self.from_date)
        high = None if self.to_date is None else start_of(self.to_date + timedelta(days=1))
        return low, high


def _utc(at_s: float | None) -> str:
    if at_s is None:
        return ""
    return datetime.fromtimestamp(at_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _money(minor: int | None, currency: str | None) -> str:
    if minor is None or currency is None:
        return ""
    return str(Money.of_minor(minor, Currency.of(currency)).amount)


def row_fields(row: HistoryRow, show_tokens: bool) -> dict[str, Any]:
    """One session as the list and the export show it (amounts as decimal strings)."""
    stop_wh = row.meter_stop_wh if row.meter_stop_wh is not None else row.last_meter_wh
    return {
        "session_id": row.local_id,
        "connector_id": row.connector_id,
        "id_tag": row.id_tag if show_tokens else masked(row.id_tag),
        "started_at": _utc(row.start_at_s),
        "stopped_at": _utc(row.stop_at_s),
        "start_register_wh": row.meter_start_wh,
        "stop_register_wh": stop_wh,
        "energy_wh": row.energy_wh,
        "tariff": "" if row.tariff_id is None else f"{row.tariff_id} v{row.tariff_version}",
        "tariff_source": row.tariff_source or "",
        "currency": row.currency or "",
        "excl_tax": _money(row.total_excl_tax_minor, row.currency),
        "incl_tax": _money(row.total_incl_tax_minor, row.currency),
        "payment_method": payment_method(row),
        "stop_reason": row.stop_reason or ("running" if row.stop_at_s is None else ""),
    }


def write_rows(rows: Iterable[dict[str, Any]], fmt: Format, out: TextIO) -> int:
    """Write ``rows`` as they come; how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
    elif fmt == "json":
        out.write("[")
    else:
        out.write(" ".join(_cell(name, name) for name in TABLE) + "\n")
    for row in rows:
        count += 1
        if fmt == "csv":
            writer.writerow(row)
        elif fmt == "json":
            out.write(("\n" if count == 1 else ",\n") + json.dumps(row))
        else:
            out.write(" ".join(_cell(name, row[name]) for name in TABLE) + "\n")
    if fmt == "json":
        out.write("\n]\n" if count else "]\n")
    return count


TABLE = ("session_id", "connector_id", "id_tag", "started_at", "energy_wh", "tariff", "incl_tax",
         "currency", "stop_reason")  # fmt: skip


def _cell(name: str, value: Any) -> str:
    return f"{value!s:<20}" if name == "started_at" else f"{value!s:>12}"


def wanted_rows(conn: Any, query: Query) -> Iterator[HistoryRow]:
    """The sessions ``query`` selects, oldest first, one at a time."""
    low, high = query.bounds_s()
    return (r for r in history.sessions(conn, low, high) if query.wants(r))


def newest_rows(query: Query, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` sessions ``query`` selects, newest first, as the export rows them."""
    with history.reading(query.database) as conn:
        kept = deque(wanted_rows(conn, query), maxlen=limit)
    return [row_fields(r, query.show_tokens) for r in reversed(kept)]


def csv_pieces(query: Query, rows_per_piece: int = 500) -> Generator[str, None, None]:
    """What ``list_sessions`` writes as CSV, in pieces of ``rows_per_piece`` rows, so a reader
    that sends them on (the console's export) holds one piece at a time. The database stays
    open until the generator ends or is closed, in the thread that runs it."""
    with history.reading(query.database) as conn:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        for count, row in enumerate(wanted_rows(conn, query), 1):
            writer.writerow(row_fields(row, query.show_tokens))
            if count % rows_per_piece == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()


def list_sessions(query: Query, fmt: Format, out: TextIO) -> int:
    with history.reading(query.database) as conn:
        rows = (row_fields(r, query.show_tokens) for r in wanted_rows(conn, query))
        return write_rows(rows, fmt, out)


# --- revenue ----------------------------------------------------------------------------------
@dataclass(slots=True)
class Revenue:
    sessions: int = 0
    unpriced: int = 0
    energy_wh: int = 0
    excl_tax_minor: int = 0
    incl_tax_minor: int = 0
    captured_minor: int = 0  # what payment terminals captured for these sessions

    def add(self, row: HistoryRow) -> None:
        self.sessions += 1
        self.energy_wh += row.energy_wh
        self.captured_minor += row.captured_minor or 0
        if row.total_incl_tax_minor is None or row.total_excl_tax_minor is None:
            self.unpriced += 1
            return
        self.excl_tax_minor += row.total_excl_tax_minor
        self.incl_tax_minor += row.total_incl_tax_minor

    def merge(self, other: Revenue) -> None:
        self.sessions += other.sessions
        self.unpriced += other.unpriced
        self.energy_wh += other.energy_wh
        self.excl_tax_minor += other.excl_tax_minor
        self.incl_tax_minor += other.incl_tax_minor
        self.captured_minor += other.captured_minor


@dataclass(slots=True)
class Summary:
    """Revenue by (group, currency); ``total`` by currency."""

    groups: dict[tuple[str, str], Revenue] = field(default_factory=dict)
    total: dict[str, Revenue] = field(default_factory=dict)


def _group_of(row: HistoryRow, by: GroupBy, zone: tzinfo) -> str:
    if by == "connector":
        return row.connector_id
    if by == "tariff":
        return "(none)" if row.tariff_id is None else f"{row.tariff_id} v{row.tariff_version}"
    if by == "method":
        return payment_method(row)
    local = datetime.fromtimestamp(row.start_at_s, UTC).astimezone(zone)
    return local.strftime("%Y-%m-%d" if by == "day" else "%Y-%m")


def summarise(rows: Iterable[HistoryRow], by: GroupBy, zone: tzinfo) -> Summary:
    """Finished sessions summed by ``by`` (running ones are left for when they end)."""
    found = Summary()
    for row in rows:
        if row.stop_at_s is None:
            continue
        currency = row.currency or ""
        found.groups.setdefault((_group_of(row, by, zone), currency), Revenue()).add(row)
        found.total.setdefault(currency, Revenue()).add(row)
    return found


@dataclass(frozen=True, slots=True)
class DayRevenue:
    """The finished sessions of one site-local day paid one way, in one currency."""

    day: str
    method: str
    currency: str
    revenue: Revenue


def revenue_by_day_and_method(query: Query) -> list[DayRevenue]:
    """Finished sessions summed per site-local day, payment method and currency, in minor
    units; days in order, methods in ``METHODS`` order."""
    with history.reading(query.database) as conn:
        found: dict[tuple[str, str, str], Revenue] = {}
        for row in wanted_rows(conn, query):
            if row.stop_at_s is None:
                continue
            key = (_group_of(row, "day", query.zone), payment_method(row), row.currency or "")
            found.setdefault(key, Revenue()).add(row)

    def order(key: tuple[str, str, str]) -> tuple[str, int, str, str]:
        day, method, currency = key
        rank = METHODS.index(method) if method in METHODS else len(METHODS)
        return day, rank, method, currency

    return [DayRevenue(*key, found[key]) for key in sorted(found, key=order)]


def summary_rows(found: Summary, by: GroupBy) -> Iterator[dict[str, Any]]:
    def fields(group: str, currency: str, r: Revenue) -> dict[str, Any]:
        return {
            by: group,
            "currency": currency,
            "sessions": r.sessions,
            "unpriced": r.unpriced,
            "energy_wh": r.energy_wh,
            "excl_tax": _money(r.excl_tax_minor, currency or None),
            "tax": _money(r.incl_tax_minor - r.excl_tax_minor, currency or None),
            "incl_tax": _money(r.incl_tax_minor, currency or None),
        }

    for (group, currency), revenue in sorted(found.groups.items()):
        yield fields(group, currency, revenue)
    for currency, revenue in sorted(found.total.items()):
        yield fields("total", currency, revenue)


def _revenue_fields(r: Revenue, currency: str) -> dict[str, Any]:
    cur = currency or None
    return {
        "currency": currency,
        "sessions": r.sessions,
        "unpriced": r.unpriced,
        "energy_wh": r.energy_wh,
        "excl_tax": _money(r.excl_tax_minor, cur),
        "tax": _money(r.incl_tax_minor - r.excl_tax_minor, cur),
        "incl_tax": _money(r.incl_tax_minor, cur),
        "captured": _money(r.captured_minor, cur),
    }


def revenue_tables(query: Query) -> dict[str, list[dict[str, Any]]]:
    """The console's revenue page: per day and method, per method, and the total per currency
    (amounts as decimal strings, summed in minor units)."""
    days = revenue_by_day_and_method(query)
    methods: dict[tuple[str, str], Revenue] = {}
    total: dict[str, Revenue] = {}
    for d in days:
        for into in (methods.setdefault((d.method, d.currency), Revenue()),
                     total.setdefault(d.currency, Revenue())):  # fmt: skip
            into.merge(d.revenue)
    return {
        "days": [
            {"day": d.day, "method": d.method, **_revenue_fields(d.revenue, d.currency)}
            for d in days
        ],
        "methods": [{"method": m, **_revenue_fields(r, c)} for (m, c), r in methods.items()],
        "total": [_revenue_fields(r, c) for c, r in sorted(total.items())],
    }


def write_summary(query: Query, by: GroupBy, fmt: Format, out: TextIO) -> int:
    with history.reading(query.database) as conn:
        found = summarise(wanted_rows(conn, query), by, query.zone)
    rows = list(summary_rows(found, by))
    names = [by, "currency", "sessions", "unpriced", "energy_wh", "excl_tax", "tax", "incl_tax"]
    if fmt == "json":
        out.write(json.dumps(rows, indent=1) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        out.write(" ".join(f"{n:>12}" for n in names) + "\n")
        for row in rows:
            out.write(" ".join(f"{row[n]!s:>12}" for n in names) + "\n")
    return len(rows)


def unknown_payment_lines(query: Query) -> list[str]:
    """A line per card payment whose outcome a crash left unknown (whatever the dates: each
    needs an operator until checked in the terminal's journal)."""
    with history.reading(query.database) as conn:
        found = history.unknown_intents(conn)
    return [
        f"payment outcome unknown: terminal {i.terminal_id}, connector {i.connector_id}, "
        f"{_money(i.amount_minor, i.currency)} {i.currency}, at {_utc(i.at_s)}"
        " (check the terminal's journal)"
        for i in found
    ]


# --- receipts ---------------------------------------------------------------------------------
class NoSuchSession(LookupError):
    pass


def receipt(query: Query, local_id: int) -> dict[str, Any]:
    """The receipt of a finished session (NoSuchSession: none, or still running)."""
    with history.reading(query.database) as conn:
        row = history.session(conn, local_id)
        if row is None or row.stop_at_s is None:
            state = "is still running" if row is not None else "does not exist"
            raise NoSuchSession(f"session {local_id} {state}")
        paid = history.payment(conn, local_id)
        tariff = None
        if row.tariff_id is not None and row.tariff_version is not None:
            body = history.tariff_body(conn, row.tariff_id, row.tariff_version)
            tariff = {
                "id": row.tariff_id,
                "version": row.tariff_version,
                "source": row.tariff_source,
                "descriptions": [] if body is None else json.loads(body).get("descriptions", []),
                "changes": [
                    {"at_s": at_s, "id": tariff_id, "version": version, "source": source}
                    for at_s, tariff_id, version, source in history.tariff_changes(conn, local_id)
                ],
            }
    stop_wh = row.meter_stop_wh if row.meter_stop_wh is not None else row.last_meter_wh
    facts = ReceiptFacts(
        site_id=query.site_id,
        session_id=row.local_id,
        connector_id=row.connector_id,
        id_tag=row.id_tag if query.show_tokens else masked(row.id_tag),
        started_at=datetime.fromtimestamp(row.start_at_s, UTC),
        stopped_at=datetime.fromtimestamp(row.stop_at_s, UTC),
        start_register_wh=row.meter_start_wh,
        stop_register_wh=stop_wh,
        stop_reason=row.stop_reason,
        tariff=tariff,
        breakdown=None if row.breakdown is None else json.loads(row.breakdown),
        payment=None if paid is None else _payment(paid, query.show_tokens),
    )
    return receipt_json(facts, query.zone)


def _payment(paid: history.PaymentRow, show_tokens: bool) -> dict[str, Any]:
    return {
        "method": "card_terminal",
        "reference": paid.token if show_tokens else masked(paid.token),
        "terminal_id": paid.terminal_id,
        "card_name": paid.card_name,
        "reserved": _money(paid.authorised_minor, paid.currency),
        "captured": _money(paid.settled_minor, paid.currency) or None,
        "state": paid.state,
        "terminal_receipt": json.loads(paid.receipt_lines),
        "terminal_status": json.loads(paid.status_texts),
    }


def write_receipt(query: Query, local_id: int, as_html: bool, out: TextIO) -> None:
    found = receipt(query, local_id)
    out.write(receipt_html(found) if as_html else json.dumps(found, indent=1) + "\n")


def write_show(query: Query, local_id: int, out: TextIO) -> None:
    """The receipt as plain text for a terminal."""
    found = receipt(query, local_id)
    energy, tariff = found["energy"], found["tariff"] or {}
    lines = [
        f"receipt    {found['receipt_id']}",
        f"connector  {found['connector_id']}   id tag {found['id_tag']}",
        f"started    {found['started_local']}",
        f"stopped    {found['stopped_local']}   ({found['stop_reason']})",
        f"energy     {energy['energy_wh']} Wh (register {energy['start_register_wh']}"
        f" -> {energy['stop_register_wh']} Wh)"
        + ("  STOP REGISTER UNKNOWN (power loss)" if energy["stop_register_unknown"] else ""),
        f"tariff     {tariff.get('id', '-')} v{tariff.get('version', '-')}"
        f" ({tariff.get('source', 'none')})",
    ]
    currency = found["currency"] or ""
    for line in found["lines"]:
        lines.append(f"  {line['component']:<18} {line['excl_tax']:>10} {line['incl_tax']:>10}")
    for tax in found["taxes"]:
        lines.append(f"  {tax['name'] + ' ' + str(tax['percent']) + ' %':<18} {tax['amount']:>21}")
    total = found["total_incl_tax"]
    lines.append(f"total      {total} {currency}" if total is not None else "total      not priced")
    out.write("\n".join(lines) + "\n")


def revenue_text(days: Sequence[DayRevenue]) -> str:
    """Finished sessions and their priced total per payment method (all days summed), e.g.
    "revenue: card_terminal 1 session 2.45 EUR (captured 2.45), csms 4 sessions 9.80 EUR"."""
    summed: dict[tuple[str, str], Revenue] = {}
    for day in days:
        summed.setdefault((day.method, day.currency), Revenue()).merge(day.revenue)
    if not summed:
        return "revenue: no finished session yet"
    parts = []
    for (method, currency), revenue in summed.items():
        money = Money.of_minor(revenue.incl_tax_minor, Currency.of(currency or "EUR")).amount
        count = f"{revenue.sessions} session{'s' if revenue.sessions != 1 else ''}"
        text = f"{method} {count} {money} {currency}"
        if revenue.captured_minor:
            captured = Money.of_minor(revenue.captured_minor, Currency.of(currency)).amount
            text += f" (captured {captured})"
        parts.append(text)
    return "revenue: " + ", ".join(parts)


def revenue_line(database: Path, site_id: str, zone: tzinfo) -> str:
    """``revenue_text`` of what the site recorded so far (the demo day's line at each day's
    end); a database that cannot be read gives a line saying so, never an error."""
    if not database.exists():
        return "revenue: no session recorded yet"
    try:
        return revenue_text(revenue_by_day_and_method(Query(database, site_id, zone)))
    except Exception as exc:  # a line of the demo's log: it must not end the day
        return f"revenue: not read ({exc})"
