"""The connector view joined with the session side's fields keeps every other field."""

from __future__ import annotations

import dataclasses
from typing import Any

from edge_controller.domain.snapshot import Availability, ConnectorView

SESSION_SIDE = dict(
    availability=Availability.CHARGING, reservation_id=7, session_id="12", id_tag="AABBCCDD",
    session_started_s=1_700_000_000.0, transaction_id="12", plug_wait_token="AABB****",
    plug_wait_until_s=1_700_000_060.0, status_info="start refused", price={"kWh": "0.35"},
    running_cost={"total": "1.20"}, csms_cost={"cost": "1.25"},
)  # fmt: skip


def _control_view() -> ConnectorView:
    """A view whose every field holds a value of its own, none a default."""
    values: dict[str, Any] = {}
    for number, spec in enumerate(dataclasses.fields(ConnectorView)):
        values[spec.name] = f"value {number}"
    values["availability"] = Availability.SUSPENDED_EV
    return ConnectorView(**values)


def test_every_field_but_the_session_sides_is_carried_over() -> None:
    view = _control_view()
    joined = view.with_session(**SESSION_SIDE)
    assert joined == dataclasses.replace(view, **SESSION_SIDE)
    kept = {f.name for f in dataclasses.fields(ConnectorView)} - set(SESSION_SIDE)
    assert kept and all(getattr(joined, name) == getattr(view, name) for name in kept)
    assert all(getattr(joined, name) == value for name, value in SESSION_SIDE.items())


def test_prices_not_given_are_none() -> None:
    side = {k: v for k, v in SESSION_SIDE.items() if k not in ("price", "running_cost")}
    joined = _control_view().with_session(**side)
    assert joined.price is None and joined.running_cost is None
    assert joined.csms_cost == {"cost": "1.25"}
