"""The scripted demo day: its timeline, and that it fits config/demo.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pytest

from edge_controller.app.sessions_report import DayRevenue, Revenue, revenue_text
from edge_controller.config.load import load_settings
from edge_controller.config.settings import Settings
from edge_controller.sim.demo_day import (
    DAY,
    DAY_END_H,
    DAY_START_H,
    STAFF_CARD_UID,
    Arrive,
    BaseLoad,
    CardAtTerminal,
    CsmsDown,
    CsmsUp,
    Leave,
    RemoteStart,
    SendLocalList,
    Step,
    Tap,
    WebPay,
    clock_text,
    describe,
    ocpp_connector_numbers,
    timeline,
)

A = TypeVar("A")
DEMO_CONFIG = Path(__file__).parents[3] / "config" / "demo.yaml"


@pytest.fixture(scope="module")
def demo() -> Settings:
    return load_settings(DEMO_CONFIG)


def test_timeline_orders_steps_and_compresses_hours() -> None:
    steps = [Step(9.0, Leave("a:1")), Step(7.5, Arrive("a:1", "x")), Step(7.5, CsmsUp())]
    plan = timeline(steps, seconds_per_hour=10.0, start_h=7.0)
    assert [offset_s for offset_s, _ in plan] == [5.0, 5.0, 20.0]
    assert [type(step.action) for _, step in plan] == [Arrive, CsmsUp, Leave]  # stable order
    with pytest.raises(ValueError):
        timeline(steps, seconds_per_hour=0)


def test_clock_text() -> None:
    assert clock_text(7.0) == "07:00"
    assert clock_text(13.2) == "13:12"
    assert clock_text(23.99) == "23:59"


def test_the_day_fits_within_its_hours() -> None:
    assert all(DAY_START_H <= step.at_h < DAY_END_H for step in DAY)


def test_the_demo_config_has_the_required_site(demo: Settings) -> None:
    profiles = {c.profile for c in demo.chargers.values()}
    assert {"keba_kecontact_p30", "phoenix_charx_sec3xxx", "heidelberg_energy_control"} <= profiles
    assert sum(c.connectors for c in demo.chargers.values()) >= 6
    assert {b.type for b in demo.buses.values()} >= {"tcp", "rtu"}
    assert [m.profile for m in demo.meters.values() if m.role == "grid"] == ["eastron_sdm630"]
    assert demo.simulation.base_load and demo.ocpp.enabled
    assert demo.ocpp.authorization.free_vend_id_tag is None
    assert demo.ocpp.authorization.offline_authorize_from_list
    assert all(c.simulated for c in demo.chargers.values())
    assert not demo.storage.state_dir.is_absolute()  # under the repository, not /var/lib


def test_every_step_names_what_the_demo_config_has(demo: Settings) -> None:
    numbers = ocpp_connector_numbers(demo)
    for step in DAY:
        action = step.action
        if isinstance(action, Arrive | Leave | RemoteStart | WebPay | CardAtTerminal):
            assert action.connector in numbers, step
        if isinstance(action, Arrive):
            assert action.profile in demo.simulation.ev_profiles, step
        if isinstance(action, Tap):
            assert action.reader in demo.readers, step
            assert demo.readers[action.reader].simulated
        assert describe(action, numbers)


def test_ocpp_numbers_follow_the_site_topology(demo: Settings) -> None:
    numbers = ocpp_connector_numbers(demo)
    assert sorted(numbers.values()) == list(range(1, len(numbers) + 1))
    assert numbers["keba:1"] == 1 and numbers["charx:3"] == 4 and numbers["hd2:1"] == 6


def _all(kind: type[A]) -> list[tuple[float, A]]:
    return [(s.at_h, s.action) for s in DAY if isinstance(s.action, kind)]


def _first(kind: type, when: float = 0.0) -> float:
    return min(s.at_h for s in DAY if isinstance(s.action, kind) and s.at_h >= when)


def test_every_ev_leaves_after_it_arrives_and_is_started_once() -> None:
    arrivals = {a.connector: at_h for at_h, a in _all(Arrive)}
    leaves = {a.connector: at_h for at_h, a in _all(Leave)}
    assert arrivals.keys() == leaves.keys()
    assert all(arrivals[c] < leaves[c] for c in arrivals)
    starts: list[tuple[float, RemoteStart | WebPay]] = [*_all(RemoteStart), *_all(WebPay)]
    assert all(arrivals[a.connector] - 0.5 < at_h < arrivals[a.connector] for at_h, a in starts)
    assert len(_all(WebPay)) == 1  # one driver pays on the web by the connector's QR code
    # one pays by card at the terminal that arms itself for the EV once it is plugged in
    ((card_h, card),) = _all(CardAtTerminal)
    assert arrivals[card.connector] < card_h < arrivals[card.connector] + 0.5
    tapped = {a.reader for _, a in _all(Tap)}
    assert len(starts) + 1 + len(tapped) == len(arrivals)  # every EV authorised one way


def test_the_staff_card_is_listed_then_tapped_during_the_outage(demo: Settings) -> None:
    (listed_h, listed), *_ = _all(SendLocalList)
    assert STAFF_CARD_UID in listed.id_tags
    (tap_h, tap), *_ = _all(Tap)
    assert tap.uid == STAFF_CARD_UID and listed_h < tap_h
    down_h = _first(CsmsDown)
    assert down_h < tap_h < _first(CsmsUp, down_h)  # offline: accepted from the local list
    tapped_connector = demo.readers[tap.reader].connectors[0]
    assert {a.connector: at_h for at_h, a in _all(Arrive)}[tapped_connector] < tap_h


def test_the_day_has_a_base_load_peak_above_the_rest() -> None:
    loads = [max(a.current_a) for _, a in _all(BaseLoad)]
    assert len(loads) >= 3 and max(loads) > 1.5 * min(loads)


def test_the_card_payment_is_at_a_terminal_of_the_demo_that_a_tariff_prices(
    demo: Settings,
) -> None:
    (_, paid), *_ = _all(CardAtTerminal)
    terminal = demo.payments.terminals[paid.terminal]
    assert paid.connector in terminal.connectors and terminal.simulated
    assert terminal.auto_arm  # it arms itself for the EV waiting: no press first
    assert demo.tariffs.default is not None and demo.web.enabled


def test_the_revenue_line_sums_each_payment_method_over_the_days() -> None:
    def day(name: str, method: str, sessions: int, minor: int, captured: int = 0) -> DayRevenue:
        revenue = Revenue(sessions, 0, 1000, minor, minor, captured)
        return DayRevenue(name, method, "EUR", revenue)

    days = [day("2026-12-03", "card_terminal", 1, 245, 245), day("2026-12-03", "csms", 2, 980),
            day("2026-12-04", "csms", 1, 1)]  # fmt: skip
    assert revenue_text(days) == (
        "revenue: card_terminal 1 session 2.45 EUR (captured 2.45), csms 3 sessions 9.81 EUR"
    )
    assert revenue_text([]) == "revenue: no finished session yet"
