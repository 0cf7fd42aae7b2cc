"""ReaderService routing and pending taps, driven through ``handle`` with an injected clock."""

from __future__ import annotations

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.tap_routing import ConnectorActivity
from edge_controller.services.readers import PendingTaps, ReaderRoute, ReaderService


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def _service(
    activity: ConnectorActivity | None = None,
) -> tuple[ReaderService, PendingTaps, list[tuple[str, str | None]], Clock]:
    seen: list[tuple[str, str | None]] = []

    async def on_token(token: Token, connector_id: str | None) -> None:
        seen.append((token.id_tag, connector_id))

    clock = Clock()
    routes = {
        "door": ReaderRoute(("c1:1",)),
        "shared": ReaderRoute(("c2:1", "c2:2"), plug_timeout_s=30.0),
    }
    taps = PendingTaps(routes, clock)
    service = ReaderService([], taps, on_token, activity=(lambda: activity) if activity else None)
    return service, taps, seen, clock


async def test_dedicated_reader_tap_names_its_connector() -> None:
    service, taps, seen, _ = _service()
    await service.handle(Token("04A1B2C3", reader_id="door"))
    assert seen == [("04A1B2C3", "c1:1")]
    assert taps.pending() == ()


async def test_shared_reader_tap_is_claimed_by_a_plug_in_within_the_timeout() -> None:
    service, taps, seen, clock = _service()
    await service.handle(Token("04A1B2C3", reader_id="shared"))
    assert seen == [("04A1B2C3", None)]
    assert taps.claim_for_plug("c1:1") is None  # not a connector of that reader
    clock.now_s += 29.0
    claimed = taps.claim_for_plug("c2:2")
    assert claimed is not None and claimed.id_tag == "04A1B2C3"
    assert taps.claim_for_plug("c2:1") is None  # claimed once only


async def test_pending_tap_expires() -> None:
    service, taps, _, clock = _service()
    await service.handle(Token("04A1B2C3", reader_id="shared"))
    clock.now_s += 30.0
    assert taps.claim_for_plug("c2:1") is None
    assert taps.pending() == ()


async def test_plugged_first_then_tap_goes_to_the_waiting_connector() -> None:
    service, taps, seen, _ = _service(ConnectorActivity(waiting_since_s={"c2:2": 990.0}))
    await service.handle(Token("04A1B2C3", reader_id="shared"))
    assert seen == [("04A1B2C3", "c2:2")]
    assert taps.pending() == ()


async def test_tap_from_an_unrouted_reader_is_passed_on_without_connector() -> None:
    service, _, seen, _ = _service()
    await service.handle(Token("04A1B2C3", reader_id="unknown"))
    assert seen == [("04A1B2C3", None)]
