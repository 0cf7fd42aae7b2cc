"""Receipts and the revenue summary add up to the cent: the summary's total is the sum of the
receipts, each receipt's lines and taxes make its total, and the CSV export says the same."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge_controller.app import sessions_report as report
from edge_controller.cli import main
from edge_controller.domain.payments import Capture, PaymentAuthorisation, session_token
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.sessions.tokens import masked
from edge_controller.services.sessions.pricing import SessionPricing
from edge_controller.storage import history
from edge_controller.storage.database import Database
from edge_controller.storage.payments_store import PaymentKey, PaymentStore
from edge_controller.storage.sessions_store import SessionStart, SessionStore, TariffRef
from edge_controller.storage.tariff_store import SITE, TariffStore

BERLIN = ZoneInfo("Europe/Berlin")
DAY0_S = 1_772_434_800.0  # 2026-03-02 08:00 Berlin
VAT = [{"name": "VAT", "percent": "19"}]
EUR = Currency.of("EUR")


def tariff(per_kwh: str) -> dict[str, Any]:
    return {
        "id": "std",
        "currency": "EUR",
        "energy": {"prices": [{"price_per_kwh": per_kwh}], "tax_rates": VAT},
        "fixed_fee": {"prices": [{"price": "0.333"}], "tax_rates": VAT},
        "descriptions": [{"text": "per kWh and a session fee", "language": "en"}],
    }


async def make_history(path: Path) -> list[int]:
    """21 sessions over three days on two connectors, two tariff versions with prices that do
    not round evenly, one session without a tariff, one ended by a power loss, one running."""
    db = await Database.open(path)
    tariffs, sessions = TariffStore(db), SessionStore(db)
    pricing = SessionPricing(tariffs, BERLIN)
    await pricing.apply_config({SITE: tariff("0.3333")})
    ids = []
    for n in range(21):
        if n == 10:
            await pricing.apply_config({SITE: tariff("0.4567")})
        version = 1 if n < 10 else 2
        start_s = DAY0_S + (n % 3) * 86_400 + n * 1800
        ref = None if n == 4 else TariffRef("std", version, "config")
        record = await sessions.start(
            SessionStart(f"wb1:{1 + n % 2}", f"04A1B2C3D4{n:02d}", start_s, 1000 * n, tariff=ref)
        )
        for minute in range(1, 4):
            await sessions.sample(record.local_id, start_s + 60 * minute, 1000 * n + 777 * minute)
        ids.append(record.local_id)
        if n == 20:
            continue  # still charging
        lost = n == 7  # the daemon was down when this EV left: billed to the last register
        await sessions.stop(record.local_id, start_s + 600, 1000 * n + 2345 + n,
                            "PowerLoss" if lost else "Local", last_known=lost,
                            price=pricing.price)  # fmt: skip
    await db.close()
    return ids


def query(path: Path, **extra: Any) -> report.Query:
    return report.Query(path, "site1", BERLIN, **extra)


async def test_summary_adds_up_to_the_receipts_to_the_cent(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    ids = await make_history(path)
    receipts = [report.receipt(query(path), i) for i in ids[:-1]]
    priced = [r for r in receipts if r["total_incl_tax"] is not None]
    assert len(priced) == 19  # one without a tariff
    for found in priced:
        lines = sum(Decimal(line["incl_tax"]) for line in found["lines"])
        taxes = sum(Decimal(t["amount"]) for t in found["taxes"])
        assert lines == Decimal(found["total_incl_tax"])
        assert Decimal(found["total_excl_tax"]) + taxes == Decimal(found["total_incl_tax"])
    power_loss = receipts[7]
    assert power_loss["energy"]["stop_register_unknown"] is True
    assert power_loss["energy"]["energy_wh"] == 3 * 777  # up to the last recorded register
    first = receipts[0]
    # 2.345 kWh * 0.3333 = 0.7815885 and the fee 0.333: 1.1145885 net -> 1.11; * 1.19 -> 1.33
    assert (first["total_excl_tax"], first["total_incl_tax"]) == ("1.11", "1.33")
    expected_total = sum(Decimal(r["total_incl_tax"]) for r in priced)
    for by in ("day", "month", "connector", "tariff"):
        out = io.StringIO()
        report.write_summary(query(path), by, "json", out)  # type: ignore[arg-type]
        rows = json.loads(out.getvalue())
        totals = {r["currency"]: r for r in rows if r[by] == "total"}
        total = totals["EUR"]
        assert Decimal(total["incl_tax"]) == expected_total
        assert total["sessions"] == 19 and total["unpriced"] == 0  # the running one waits
        assert totals[""]["sessions"] == totals[""]["unpriced"] == 1  # no tariff: no revenue
        groups = [r for r in rows if r[by] != "total"]
        assert sum(Decimal(r["incl_tax"] or 0) for r in groups) == expected_total
        energy = sum(r["energy_wh"] for r in totals.values())
        assert sum(r["energy_wh"] for r in groups) == energy
    out = io.StringIO()
    report.write_summary(query(path), "tariff", "json", out)
    by_tariff = {r["tariff"]: r for r in json.loads(out.getvalue())}
    assert by_tariff["std v1"]["sessions"] == 9 and by_tariff["std v2"]["sessions"] == 10
    assert by_tariff["(none)"]["unpriced"] == 1


async def test_export_streams_every_session_with_masked_tokens(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    ids = await make_history(path)
    out = io.StringIO()
    assert report.list_sessions(query(path), "csv", out) == len(ids)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert all(r["id_tag"].startswith("04..") for r in rows)
    receipts = [report.receipt(query(path), i) for i in ids[:-1]]
    assert sum(Decimal(r["incl_tax"] or 0) for r in rows) == sum(
        Decimal(r["total_incl_tax"] or 0) for r in receipts
    )
    assert rows[-1]["stop_reason"] == "running" and rows[-1]["incl_tax"] == ""
    shown = io.StringIO()
    report.list_sessions(query(path, show_tokens=True), "json", shown)
    assert json.loads(shown.getvalue())[0]["id_tag"] == "04A1B2C3D400"
    day = io.StringIO()
    from datetime import date

    one_day = query(path, from_date=date(2026, 3, 3), to_date=date(2026, 3, 3))
    assert report.list_sessions(one_day, "json", day) == 7  # n = 1, 4, 7, ... on the 2nd day


async def test_html_receipt_is_one_self_contained_page(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    ids = await make_history(path)
    out = io.StringIO()
    report.write_receipt(query(path), ids[0], True, out)
    page = out.getvalue()
    assert page.startswith("<!DOCTYPE html>") and "site1-00000001" in page
    assert "1.33 EUR" in page and "2345 Wh" in page
    assert "<script" not in page and "<link" not in page and "http" not in page
    with pytest.raises(report.NoSuchSession, match="still running"):
        report.receipt(query(path), ids[-1])


async def test_cli_sessions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    state.mkdir()
    ids = await make_history(state / "edge.db")
    config = tmp_path / "site.yaml"
    config.write_text(
        "site: {id: site1, grid_limit_a: 63, time_zone: Europe/Berlin}\n"
        f"storage: {{state_dir: {state}}}\n",
        encoding="utf-8",
    )
    capsys.readouterr()  # what building the history logged
    assert main(["sessions", "--config", str(config), "--summary", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("day,currency,sessions") and lines[-1].startswith("total,EUR,19")
    assert main(["sessions", "show", str(ids[0]), "--config", str(config)]) == 0
    assert "total      1.33 EUR" in capsys.readouterr().out
    assert main(["sessions", "receipt", "999", "--config", str(config)]) == 1
    assert main(["sessions", "show", "--config", str(config)]) == 2
    assert main(["sessions", "--from", "2026-13-01", "--config", str(config)]) == 2


async def test_receipt_of_a_card_paid_session_shows_the_payment_as_stored(
    tmp_path: Path,
) -> None:
    """The receipt's payment is the payments table's: reserved and captured amounts, state and
    the lines the terminal printed (pre-authorisation, then capture), in HTML as in JSON."""
    path = tmp_path / "edge.db"
    ids = await make_history(path)
    db = await Database.open(path)
    try:
        store = PaymentStore(db)
        auth = PaymentAuthorisation(
            "0001/001001/00", Money(Decimal("30.00"), EUR), "girocard", ("PRE-AUTH 30.00 EUR",),
            ("insert card", "please wait"),
        )  # fmt: skip
        await store.authorised(auth, "entrance", "wb1:1", DAY0_S)
        key = PaymentKey("entrance", auth.reference)
        await store.started(key, ids[0], DAY0_S)
        await store.capturing(key, DAY0_S + 700)
        capture = Capture(
            auth.reference, Money(Decimal("1.33"), EUR), ("BOOK TOTAL 1.33 EUR",), ("wait 2",)
        )
        await store.settled(key, capture, DAY0_S + 701)
    finally:
        await db.close()
    found = report.receipt(query(path), ids[0])
    assert found["payment"] == {
        "method": "card_terminal",
        "reference": masked(session_token("entrance", auth.reference)),
        "terminal_id": "entrance",
        "card_name": "girocard",
        "reserved": "30.00",
        "captured": found["total_incl_tax"],  # the captured amount is the priced total
        "state": "settled",
        "terminal_receipt": ["PRE-AUTH 30.00 EUR", "BOOK TOTAL 1.33 EUR"],
        "terminal_status": ["insert card", "please wait", "wait 2"],
    }
    out = io.StringIO()
    report.write_receipt(query(path), ids[0], True, out)
    page = out.getvalue()
    assert "PRE-AUTH 30.00 EUR\nBOOK TOTAL 1.33 EUR" in page
    assert "card at terminal entrance (girocard): 1.33 EUR captured" in page
    assert "Terminal showed: insert card, please wait, wait 2" in page
    assert report.receipt(query(path), ids[1])["payment"] == {"method": None, "reference": None}
    with history.reading(path) as conn:
        listed = [report.row_fields(r, False) for r in history.sessions(conn)]
    methods = {row["session_id"]: row["payment_method"] for row in listed}
    assert methods[ids[0]] == "card_terminal"
    assert {m for sid, m in methods.items() if sid != ids[0]} == {"rfid"}  # cards tapped
