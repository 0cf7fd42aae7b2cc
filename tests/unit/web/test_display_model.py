"""The display model from a status view: states, figures and words in both languages."""

from __future__ import annotations

import pytest

from edge_controller.domain.payments import ArmDecision, NotArmed
from edge_controller.domain.snapshot import Availability, ConnectorView, SiteView
from edge_controller.domain.web_payment import QrCodes
from edge_controller.web.display_model import (
    Board,
    DisplaySetup,
    DisplayState,
    StartWay,
    display_model,
    display_state,
)
from edge_controller.web.pages import display_page

NOW_S = 1_800_000_000.0
SETUP = DisplaySetup("lot", (), {"a:1": (StartWay.CARD, StartWay.APP)})


def connector(availability: Availability, **extra: object) -> ConnectorView:
    return ConnectorView("a:1", availability, 16.0, "max", at_s=NOW_S - 0.5, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("availability", "state"),
    [
        (Availability.AVAILABLE, DisplayState.FREE),
        (Availability.PREPARING, DisplayState.OCCUPIED),
        (Availability.CHARGING, DisplayState.CHARGING),
        (Availability.SUSPENDED_EV, DisplayState.OCCUPIED),
        (Availability.SUSPENDED_EVSE, DisplayState.OCCUPIED),
        (Availability.FINISHING, DisplayState.OCCUPIED),
        (Availability.RESERVED, DisplayState.OCCUPIED),
        (Availability.UNAVAILABLE, DisplayState.OUT_OF_ORDER),
        (Availability.FAULTED, DisplayState.OUT_OF_ORDER),
    ],
)
def test_every_availability_has_a_state_a_driver_understands(
    availability: Availability, state: DisplayState
) -> None:
    assert display_state(connector(availability))[0] is state


def test_a_free_connector_with_a_fault_is_out_of_order() -> None:
    assert display_state(connector(Availability.AVAILABLE, fault_text="RCD"))[0] is (
        DisplayState.OUT_OF_ORDER
    )


def test_a_session_shows_power_energy_and_time_in_german() -> None:
    view = connector(
        Availability.CHARGING,
        power_w=11_040.0,
        session_energy_wh=3_456.0,
        session_id="7",
        session_started_s=NOW_S - 3_725,
    )
    model = display_model(SiteView("s", None, 63.0, None, None, (view,)), SETUP, "de", NOW_S)
    (c,) = model["connectors"]
    assert (c["state"], c["state_text"]) == ("charging", "Lädt")
    assert (c["power_w"], c["power_text"]) == (11_040.0, "11,0 kW")
    assert (c["energy_wh"], c["energy_text"]) == (3_456.0, "3,46 kWh")
    assert (c["elapsed_s"], c["elapsed_text"]) == (3_725, "1:02 h")
    assert c["start_texts"] == [
        "Halten Sie Ihre Ladekarte an das Lesegerät",
        "Starten Sie in Ihrer Lade-App",
    ]
    assert c["at_s"] == NOW_S - 0.5


def test_without_a_session_no_energy_or_time_and_out_of_order_has_no_power() -> None:
    free = connector(Availability.AVAILABLE, power_w=0.0, session_energy_wh=5.0)
    (c,) = display_model(SiteView("s", None, 63.0, None, None, (free,)), SETUP, "en", NOW_S)[
        "connectors"
    ]
    assert (c["session"], c["energy_wh"], c["elapsed_s"], c["energy_text"]) == (
        False, None, None, "-",
    )  # fmt: skip
    broken = connector(Availability.FAULTED, power_w=12.0)
    (c,) = display_model(SiteView("s", None, 63.0, None, None, (broken,)), SETUP, "en", NOW_S)[
        "connectors"
    ]
    assert (c["power_w"], c["power_text"], c["state_text"]) == (None, "-", "Out of order")
    assert "report the problem" in c["help_text"]


def test_one_connector_only_and_non_finite_figures_are_left_out() -> None:
    views = (
        connector(Availability.CHARGING, power_w=float("nan"), session_id="1"),
        ConnectorView("b:1", Availability.AVAILABLE, 0.0, "no vehicle"),
    )
    model = display_model(SiteView("s", None, 63.0, None, None, views), SETUP, "en", NOW_S, "a:1")
    (c,) = model["connectors"]
    assert (c["id"], c["power_w"], c["power_text"]) == ("a:1", None, "-")


def test_a_configured_connector_not_read_yet_is_shown_as_starting() -> None:
    setup = DisplaySetup("lot", ("a:1", "b:1"), {"b:1": (StartWay.FREE,)})
    views = (connector(Availability.AVAILABLE),)
    model = display_model(SiteView("s", None, 63.0, None, None, views), setup, "en", NOW_S)
    assert [(c["id"], c["state"]) for c in model["connectors"]] == [
        ("a:1", "free"),
        ("b:1", "starting"),
    ]
    starting = model["connectors"][1]
    assert (starting["state_text"], starting["at_s"]) == ("Starting...", None)
    assert starting["start_texts"] == ["Plug in: charging starts by itself"]


def test_the_page_escapes_what_it_shows() -> None:
    setup = DisplaySetup("<b>lot</b>", ("a:1",))
    views = (connector(Availability.AVAILABLE),)
    model = display_model(SiteView("s", None, 63.0, None, None, views), setup, "en", NOW_S)
    html = display_page(model, "en", None)
    assert "<b>lot</b>" not in html and "&lt;b&gt;lot&lt;/b&gt;" in html
    assert 'data-connector="a:1"' in html and f'data-at="{NOW_S - 0.5!r}"' in html
    assert "http" not in html  # nothing from elsewhere: only our own /static files


PRICE = {
    "tariff_id": "standard", "tariff_version": 1, "currency": "EUR", "per_kwh": "0.476",
    "per_minute_charging": None, "per_session": "0.60", "per_minute_idle": "0.119",
    "idle_after_s": 3600, "text": "0.476 EUR/kWh",
}  # fmt: skip
COST = {
    "tariff_id": "standard", "tariff_version": 1, "currency": "EUR", "excl_tax": "1.42",
    "incl_tax": "1.69", "energy_wh": "2300", "until_s": NOW_S - 1,
}  # fmt: skip


@pytest.mark.parametrize(
    ("language", "price", "cost"),
    [
        (
            "en",
            "0.476 EUR/kWh · 0.60 EUR per session · "
            "0.119 EUR/min parked without charging after 60 min",
            "1.69 EUR",
        ),
        (
            "de",
            "0,476 EUR/kWh · 0,60 EUR je Ladevorgang · "
            "0,119 EUR/Min. Standzeit ohne Laden nach 60 Min.",
            "1,69 EUR",
        ),
    ],
)
def test_the_price_now_and_the_running_cost_as_the_tariff_gives_them(
    language: str, price: str, cost: str
) -> None:
    view = connector(Availability.CHARGING, session_id="3", price=PRICE, running_cost=COST)
    (c,) = display_model(SiteView("s", None, 63.0, None, None, (view,)), SETUP, language, NOW_S)[
        "connectors"
    ]
    assert (c["price_text"], c["cost_text"], c["cost_incl_tax"]) == (price, cost, "1.69")


def test_without_a_tariff_no_price_is_shown() -> None:
    (c,) = display_model(
        SiteView("s", None, 63.0, None, None, (connector(Availability.AVAILABLE),)),
        SETUP,
        "en",
        NOW_S,
    )["connectors"]
    assert (c["price_text"], c["cost_text"], c["cost_incl_tax"]) == ("", "-", None)
    assert 'data-priced="false"' in display_page({"site": "s", "connectors": [c]}, "en", None)


def test_csms_messages_reach_the_site_part_and_the_cards_in_the_page_language() -> None:
    from edge_controller.domain.display_messages import DisplayMessage, Priority

    views = (
        connector(Availability.AVAILABLE),
        ConnectorView("b:1", Availability.AVAILABLE, 16.0, ""),
    )
    everyone = ("a:1", "b:1")
    normal = Priority.NORMAL_CYCLE
    messages = [
        DisplayMessage(1, "cs", normal, "Welcome", language="en", connectors=everyone),
        DisplayMessage(2, "cs", normal, "Willkommen", language="de", connectors=everyone),
        DisplayMessage(3, "cs", Priority.IN_FRONT, "<i>Bay A</i> closed at 6", connectors=("a:1",),
                       evse_id=1),
    ]  # fmt: skip
    site = SiteView("s", None, 63.0, None, None, views)
    model = display_model(site, DisplaySetup("lot", everyone), "de", NOW_S, board=Board(messages))
    assert [m["text"] for m in model["messages"]] == ["Willkommen"]
    cards = {c["id"]: c for c in model["connectors"]}
    assert [m["text"] for m in cards["a:1"]["messages"]] == ["<i>Bay A</i> closed at 6"]
    assert cards["b:1"]["messages"] == []
    # One connector's page shows the site's messages on its card.
    alone = display_model(
        site, DisplaySetup("lot", everyone), "en", NOW_S, "b:1", board=Board(messages)
    )
    assert [m["text"] for m in alone["connectors"][0]["messages"]] == ["Welcome"]
    html = display_page(model, "de", None)
    assert "&lt;i&gt;Bay A&lt;/i&gt;" in html and "<i>Bay A" not in html
    assert 'data-priority="InFront"' in html and ">Willkommen</li>" in html


PAY_SETUP = DisplaySetup(
    "lot",
    ("a:1", "a:2", "b:1"),
    {
        "a:1": (StartWay.CARD, StartWay.APP, StartWay.TERMINAL),
        "a:2": (StartWay.CARD, StartWay.TERMINAL),
        "b:1": (StartWay.CARD, StartWay.TERMINAL),
    },
    terminals={"entrance": ("a:1", "a:2"), "kiosk": ("b:1",)},
)


def waiting_site(*waiting: str) -> SiteView:
    views = tuple(
        ConnectorView(
            cid,
            Availability.PREPARING if cid in waiting else Availability.AVAILABLE,
            0.0,
            "no EV",
            at_s=NOW_S,
        )
        for cid in ("a:1", "a:2", "b:1")
    )
    return SiteView("s", None, 63.0, None, None, views)


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_way_to_pay_is_listed_with_the_terminal_by_name(language: str) -> None:
    """RFID, app, card at a named terminal, and the QR code when the connector has one."""
    model = display_model(waiting_site(), PAY_SETUP, language, NOW_S)
    cards = {c["id"]: c for c in model["connectors"]}
    first = cards["a:1"]
    expected = {
        "en": ["Hold your charging card to the reader", "Start it in your charging app",
               "Pay by bank card at terminal \u201centrance\u201d"],
        "de": ["Halten Sie Ihre Ladekarte an das Lesegerät", "Starten Sie in Ihrer Lade-App",
               "Mit Bankkarte am Terminal \u201eentrance\u201c bezahlen"],
    }[language]  # fmt: skip
    assert first["start_texts"] == expected
    assert first["terminal"] == "entrance" and "entrance" in first["terminal_text"]
    assert cards["b:1"]["terminal"] == "kiosk" and "kiosk" in cards["b:1"]["terminal_text"]
    html = display_page(model, language, None)
    assert 'action="/display/pay?lang=' + language in html
    assert html.count('name="connector" value="') == 3  # a button on each served card
    assert 'name="terminal" value="entrance"' in html  # the shared terminal's own box
    assert 'name="terminal" value="kiosk"' not in html  # one connector: its card's button only


@pytest.mark.parametrize(
    ("waiting", "state", "paid_for", "en", "de"),
    [
        ((), "none", None, "No car is waiting", "Kein Auto wartet"),
        # not armed by itself: the driver taps the terminal's button first
        (
            ("a:2",),
            "ready",
            "a:2",
            "Tap “Pay for the waiting car”, then hold your card to this "
            "terminal: it pays for the car waiting at a:2.",
            "„Für das wartende Auto bezahlen“ "
            "antippen, dann die Karte an dieses Terminal halten: Sie bezahlt für das Auto an a:2.",
        ),
        (("a:1", "a:2", "b:1"), "ambiguous", None, "cars wait at a:1, a:2", "An a:1, a:2 warten"),
    ],
)
def test_a_shared_terminal_says_whom_it_pays_for_or_why_it_is_not_armed(
    waiting: tuple[str, ...], state: str, paid_for: str | None, en: str, de: str
) -> None:
    for language, words in (("en", en), ("de", de)):
        model = display_model(waiting_site(*waiting), PAY_SETUP, language, NOW_S)
        (terminal,) = model["terminals"]
        assert (terminal["id"], terminal["state"], terminal["for"]) == ("entrance", state, paid_for)
        assert words in terminal["note_text"]
        cards = {c["id"]: c for c in model["connectors"]}
        for cid in ("a:1", "a:2"):  # the card of a waiting EV says what to do when ambiguous
            ambiguous = state == "ambiguous" and cid in waiting
            assert ("a:1, a:2" in cards[cid]["terminal_text"]) is ambiguous
    one = display_model(waiting_site(*waiting), PAY_SETUP, "en", NOW_S, "a:1")
    assert one["terminals"] == []  # a connector's own page has its card's button


def test_a_qr_code_adds_web_payment_beside_the_terminal() -> None:
    setup = DisplaySetup(
        "lot", ("a:1",), {"a:1": (StartWay.TERMINAL,)}, QrCodes({"a:1": {"connector": "a:1"}}, "https://p/{connector}"),
        {"entrance": ("a:1",)},
    )  # fmt: skip
    model = display_model(waiting_site(), setup, "en", NOW_S)
    assert model["connectors"][0]["start_texts"] == [
        "Pay by bank card at terminal \u201centrance\u201d",
        "Scan the QR code to pay on the web",
    ]


@pytest.mark.parametrize(
    ("arm", "state", "en", "de"),
    [
        (ArmDecision("a:2", None, ("a:2",)), "armed", "Ready for the car at a:2",
         "Bereit für das Auto an a:2"),
        (ArmDecision(None, NotArmed.NONE_WAITING), "none", "No car is waiting", "Kein Auto wartet"),
        (ArmDecision(None, NotArmed.SEVERAL_WAITING, ("a:1", "a:2")), "ambiguous",
         "cars wait at a:1, a:2. Choose your connector", "Wählen Sie Ihren Ladepunkt"),
        (ArmDecision(None, NotArmed.TERMINAL_BUSY, ("a:1",)), "busy", "another payment",
         "andere Zahlung"),
        (ArmDecision(None, NotArmed.TERMINAL_OFFLINE), "offline", "does not answer",
         "antwortet nicht"),
        (ArmDecision(None, NotArmed.NO_TARIFF, ("a:1",)), "no_tariff", "no price is set for a:1",
         "Für a:1 ist kein Preis"),
    ],
)  # fmt: skip
def test_a_self_arming_terminal_says_whom_a_card_pays_for_or_why_nobody(
    arm: ArmDecision, state: str, en: str, de: str
) -> None:
    """The service's decision, not the page's own guess, is what the terminal's box shows."""
    for language, expected in (("en", en), ("de", de)):
        board = Board(arms={"entrance": arm})
        model = display_model(waiting_site("a:2"), PAY_SETUP, language, NOW_S, board=board)
        (box,) = model["terminals"]
        assert box["state"] == state and box["for"] == arm.connector_id
        assert expected in box["note_text"]
        cards = {c["id"]: c for c in model["connectors"]}
        armed_here = "is ready for this charger" if language == "en" else "für diesen Ladepunkt"
        assert (armed_here in cards["a:2"]["terminal_text"]) is (state == "armed")
        assert armed_here not in cards["a:1"]["terminal_text"]
