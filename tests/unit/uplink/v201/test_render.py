"""The 2.x names the renderer writes are the ones the official schemas allow, for every value
of the domain's enums (a new stop reason or token type without a 2.x name fails here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from edge_controller.domain.commands import (
    Command,
    SetTransactionLimit,
    StopReason,
    TransactionLimit,
)
from edge_controller.domain.pricing import cost
from edge_controller.domain.pricing.central import CentralCost
from edge_controller.domain.pricing.codec import breakdown_to_json, tariff_from_json
from edge_controller.domain.pricing.recorded import Reading, recorded_timeline
from edge_controller.domain.sessions.events import (
    IdToken,
    Quantity,
    ReadingContext,
    TokenType,
)
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.ports import MeterSample
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v16 import meter_values
from edge_controller.uplink.v16.render import Connection
from edge_controller.uplink.v201 import render
from tests.outbox_events import T0_S, ended, sampled, started


@dataclass(frozen=True)
class Queued:
    """An outbox row as the renderer reads it."""

    event: Any
    remote_transaction_id: int | None
    session_position: int | None
    seq: int = 1
    identity: str = "site1"
    unreadable: str | None = None
    attempts: int = 0
    created_at_s: float = 0.0
    session_cost: dict[str, Any] | None = None
    session_limit: TransactionLimit | None = None
    session_tariff_id: str | None = None

    @property
    def session_local_id(self) -> int | None:
        return getattr(self.event, "session_local_id", None)


def _link() -> render.Link201:
    topology = Topology("site", "site1", {"c1": 2})
    return render.Link201(Connection(topology, ClockSync()), lambda _at_s: False)


def _definitions(version: str) -> dict[str, Any]:
    folder = resources.files("ocpp") / f"v{version.replace('.', '')}" / "schemas"
    text = (folder / "TransactionEventRequest.json").read_text(encoding="utf-8-sig")
    definitions: dict[str, Any] = json.loads(text)["definitions"]
    return definitions


def _request_schema(version: str) -> dict[str, Any]:
    folder = resources.files("ocpp") / f"v{version.replace('.', '')}" / "schemas"
    text = (folder / "TransactionEventRequest.json").read_text(encoding="utf-8-sig")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _enum(definitions: dict[str, Any], name: str) -> set[str]:
    return set(definitions[name]["enum"])


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_every_domain_value_has_a_name_the_schema_allows(version: str) -> None:
    d = _definitions(version)
    reasons = {stopped for stopped, _ in (render.STOPS[r] for r in StopReason)}
    triggers = {trigger for _, trigger in (render.STOPS[r] for r in StopReason)}
    triggers |= set(render.SAMPLE_TRIGGERS.values())
    if version == "2.0.1":
        triggers = {render.TRIGGERS_201.get(t, t) for t in triggers}
    assert reasons <= _enum(d, "ReasonEnumType")
    assert triggers <= _enum(d, "TriggerReasonEnumType")
    if "IdTokenEnumType" in d:  # 2.1 names token types in free text
        assert {render.TOKEN_TYPES_201[t] for t in TokenType} <= _enum(d, "IdTokenEnumType")
    else:
        assert render.TOKEN_TYPES[TokenType.DIRECT_PAYMENT] == "DirectPayment"
    assert {render.CONTEXTS[c] for c in ReadingContext} <= _enum(d, "ReadingContextEnumType")
    measurands = {render.MEASURANDS[q][0] for q in Quantity}
    assert measurands <= _enum(d, "MeasurandEnumType")


def test_transaction_ids_name_their_session() -> None:
    text = render.transaction_id(17, 1_796_337_177_004)
    assert len(text) <= 36 and render.session_of(text) == 17
    assert render.session_of("17") is None and render.session_of("x-1") is None


def _updated(phases_used: int | None) -> dict[str, Any]:
    sample = replace(sampled(1, 4000, "c1:1", power_w=7200), phases_used=phases_used)
    message = Queued(sample, remote_transaction_id=1_795_737_600_000, session_position=1)
    return render.request(message, sample, _link())


def test_the_phases_the_ev_drew_on_are_number_of_phases_used() -> None:
    assert _updated(1)["numberOfPhasesUsed"] == 1
    assert _updated(3)["numberOfPhasesUsed"] == 3
    assert "numberOfPhasesUsed" not in _updated(None)  # not measured: not said


def test_a_remote_start_id_stored_with_the_start_is_sent_with_it() -> None:
    token = IdToken("CAFE01", TokenType.CENTRAL)
    event = replace(started(1, "c1:1"), id_token=token, remote_start_id=31)
    payload = render.request(Queued(event, None, 0), event, _link())
    assert payload["transactionInfo"]["remoteStartId"] == 31
    card = started(2, "c1:1")  # a card's start has none, whatever the connector saw before
    assert (
        "remoteStartId"
        not in render.request(Queued(card, None, 0), card, _link())["transactionInfo"]
    )


def test_a_key_code_the_csms_started_with_is_sent_as_a_key_code_remote_start() -> None:
    token = IdToken("4711", TokenType.KEY_CODE)
    event = replace(started(1, "c1:1"), id_token=token, remote_start_id=31)
    payload = render.request(Queued(event, None, 0), event, _link())
    assert payload["idToken"] == {"idToken": "4711", "type": "KeyCode"}
    assert payload["triggerReason"] == "RemoteStart"
    assert payload["transactionInfo"]["remoteStartId"] == 31


@pytest.mark.parametrize(
    ("currents_a", "expected"),
    [((16.0, 15.8, 16.1), 3), ((15.9, 0.0, 0.2), 1), ((0.3, 0.0, 0.0), None), (None, None)],
)
def test_phases_drawing_counts_the_chargers_measured_currents(
    currents_a: tuple[float, float, float] | None, expected: int | None
) -> None:
    sample = MeterSample(at_s=0.0, current_a=currents_a)
    assert meter_values.phases_drawing(sample) == expected


def _priced_breakdown() -> dict[str, Any]:
    """The stored final cost of 11 kWh at 0.30 + 19 % VAT, then 20 idle minutes free."""
    body = {"id": "t", "currency": "EUR",
            "energy": {"prices": [{"price_per_kwh": "0.30"}],
                       "tax_rates": [{"name": "VAT", "percent": "19"}]}}  # fmt: skip
    line = recorded_timeline(T0_S, T0_S + 3600, [Reading(T0_S, 1000), Reading(T0_S + 2400, 12000),
                                                 Reading(T0_S + 3600, 12000)])  # fmt: skip
    return breakdown_to_json(cost(tariff_from_json(body), line, ZoneInfo("Europe/Berlin")))


@pytest.mark.parametrize("v21", [True, False])
def test_the_end_carries_the_stored_cost_as_cost_details_on_2_1(v21: bool) -> None:
    event = ended(1, 12000)
    message = Queued(event, 1_795_737_600_000, 2, session_cost=_priced_breakdown())
    link = replace(_link(), v21=v21)
    payload = json.loads(json.dumps(render.request(message, event, link), default=float))
    if not v21:
        assert "costDetails" not in payload
        return
    schema_dir = resources.files("ocpp") / "v21" / "schemas"
    schema = json.loads((schema_dir / "TransactionEventRequest.json").read_text("utf-8-sig"))
    jsonschema.Draft6Validator(schema).validate(payload)
    details = payload["costDetails"]
    assert details["totalCost"]["total"] == {"exclTax": 3.3, "inclTax": 3.93}
    assert details["totalCost"]["energy"] == {"exclTax": 3.3, "inclTax": 3.93}
    assert details["totalUsage"] == {
        "energy": 11000, "chargingTime": 2400, "idleTime": 1200, "reservationTime": 0
    }  # fmt: skip
    dims = [(d["type"], d["volume"]) for p in details["chargingPeriods"] for d in p["dimensions"]]
    assert dims == [("Energy", 11000), ("ChargingTime", 2400), ("Energy", 0), ("IdleTIme", 1200)]


@pytest.mark.parametrize("v21", [True, False])
def test_a_periodic_sample_carries_its_running_cost_as_cost_details_on_2_1(v21: bool) -> None:
    event = replace(sampled(1, 12000), cost=_priced_breakdown())
    message = Queued(event, 1_795_737_600_000, 1)
    link = replace(_link(), v21=v21)
    payload = json.loads(json.dumps(render.request(message, event, link), default=float))
    jsonschema.validate(payload, _request_schema("2.1" if v21 else "2.0.1"))
    assert payload["eventType"] == "Updated"
    if not v21:
        assert "costDetails" not in payload
        return
    details = payload["costDetails"]
    assert details["totalCost"]["total"] == {"exclTax": 3.3, "inclTax": 3.93}
    assert details["totalUsage"]["energy"] == 11000


async def test_a_cost_that_cannot_be_shown_never_stops_the_sender() -> None:
    async def broken(local_id: int, found: CentralCost) -> bool:
        raise RuntimeError("the database is gone")

    rendering = render.Ocpp201Rendering(_link(), broken)
    message = Queued(ended(1, 12000), 1_795_737_600_000, 2)
    await rendering.answered(message, {"totalCost": 4.56})  # logged, not raised


LIMIT = TransactionLimit(Decimal("2.38"), Decimal("5000"), 3600, 80)
LIMIT_WIRE = {"maxCost": 2.38, "maxEnergy": 5000, "maxTime": 3600, "maxSoC": 80}


def _limits_taken(link: render.Link201) -> tuple[render.Ocpp201Rendering, list[Command]]:
    taken: list[Command] = []
    return render.Ocpp201Rendering(link, None, lambda c: taken.append(c) is None), taken


async def test_a_2_1_transaction_limit_in_an_answer_becomes_a_command() -> None:
    rendering, taken = _limits_taken(_link())
    await rendering.answered(Queued(started(7), None, 0), {"transactionLimit": LIMIT_WIRE})
    assert taken == [SetTransactionLimit(7, LIMIT)]
    # The limit the session already has is not taken again; an Ended answer's never.
    same = Queued(sampled(7, 3000), 1, 1, session_limit=LIMIT)
    await rendering.answered(same, {"transactionLimit": LIMIT_WIRE})
    await rendering.answered(Queued(ended(7, 9000), 1, 2), {"transactionLimit": LIMIT_WIRE})
    await rendering.answered(Queued(sampled(7, 3000), 1, 1), {"transactionLimit": {}})
    assert taken == [SetTransactionLimit(7, LIMIT)]


async def test_a_2_0_1_connection_takes_no_transaction_limit() -> None:
    rendering, taken = _limits_taken(replace(_link(), v21=False))
    await rendering.answered(Queued(started(7), None, 0), {"transactionLimit": LIMIT_WIRE})
    assert taken == []


@pytest.mark.parametrize(
    ("context", "v21", "trigger"),
    [
        (ReadingContext.LIMIT_SET, True, "LimitSet"),
        (ReadingContext.LIMIT_SET, False, "Trigger"),
        (ReadingContext.TARIFF_CHANGED, True, "TariffChanged"),
        (ReadingContext.TARIFF_CHANGED, False, "Trigger"),
        (ReadingContext.TRIGGER, True, "Trigger"),
    ],
)
def test_a_reading_taken_for_a_change_names_it_as_the_trigger(
    context: ReadingContext, v21: bool, trigger: str
) -> None:
    """2.1 says why the event was sent (a limit set, a tariff changed); 2.0.1 lacks those
    words and is told Trigger. The value itself is a triggered one on both."""
    link = replace(_link(), v21=v21)
    message = Queued(sampled(7, 3000, context=context), 1, 1, session_limit=LIMIT)
    payload = json.loads(json.dumps(render.request(message, message.event, link), default=float))
    jsonschema.validate(payload, _request_schema("2.1" if v21 else "2.0.1"))
    assert payload["triggerReason"] == trigger
    value = payload["meterValue"][0]["sampledValue"][0]
    assert (value["context"], Decimal(str(value["value"]))) == ("Trigger", Decimal(3000))


@pytest.mark.parametrize("v21", [True, False])
def test_the_kept_limit_is_reported_back_where_the_schema_has_it(v21: bool) -> None:
    link = replace(_link(), v21=v21)
    schema = _request_schema("2.1" if v21 else "2.0.1")
    stop = ended(7, 6000, reason=StopReason.ENERGY_LIMIT)
    for message in (Queued(sampled(7, 3000), 1, 1, session_limit=LIMIT),
                    Queued(stop, 1, 2, session_limit=LIMIT)):  # fmt: skip
        # as sent: Decimals go out as JSON numbers
        payload = json.loads(
            json.dumps(render.request(message, message.event, link), default=float)
        )
        jsonschema.validate(payload, schema)
        assert payload["transactionInfo"].get("transactionLimit") == (LIMIT_WIRE if v21 else None)
    assert payload["transactionInfo"]["stoppedReason"] == "EnergyLimitReached"
    assert payload["triggerReason"] == "EnergyLimitReached"
