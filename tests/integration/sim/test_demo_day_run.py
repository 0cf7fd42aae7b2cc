"""One compressed demo day against the real simulator and the bench CSMS process (no daemon:
every step that needs the charge point reports why it was not done, and the day goes on)."""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path

import pytest

from edge_controller.api.client import DaemonNotRunning
from edge_controller.app.sessions_report import revenue_line
from edge_controller.config.settings import Settings
from edge_controller.domain.snapshot import SiteView
from edge_controller.sim.control_client import SimControlClient
from edge_controller.sim.demo_csms import CsmsProcess
from edge_controller.sim.demo_day import (
    DAY,
    Arrive,
    CardAtTerminal,
    DemoDay,
    Leave,
    RemoteStart,
    SendLocalList,
    Tap,
    WebPay,
)
from edge_controller.sim.rfid import READERS_ENV
from edge_controller.sim.site import running_site
from tests.ports import free_port

pytestmark = pytest.mark.integration
PROFILES = {
    name: {"phases": 3, "max_current_a": 16, "response_delay_s": 0}
    for name in ("compact", "van", "hatch1", "plugin")
}


def demo_like_site(tmp_path: Path) -> Settings:
    """The demo's connector ids on free ports, and the OCPP identity of the demo."""
    chargers = {
        "keba": {"bus": "lan", "unit_id": 255, "profile": "keba_kecontact_p30"},
        "charx": {"bus": "lan", "unit_id": 1, "profile": "phoenix_charx_sec3xxx", "connectors": 3},
        "hd1": {"bus": "lan", "unit_id": 2, "profile": "heidelberg_energy_control"},
        "hd2": {"bus": "lan", "unit_id": 3, "profile": "heidelberg_energy_control"},
    }
    return Settings.model_validate(
        {
            "site": {"id": "demo-test", "grid_limit_a": 50},
            "buses": {"lan": {"type": "tcp", "host": "127.0.0.1", "port": free_port()}},
            "chargers": {
                k: {**v, "max_current_a": 16, "simulated": True} for k, v in chargers.items()
            },
            "readers": {"entrance": {"name_pattern": "x", "connectors": ["hd2:1"]}},
            "ocpp": {"enabled": True, "url": f"ws://127.0.0.1:{free_port()}", "identity": "cp1"},
            "storage": {"state_dir": str(tmp_path)},
            "simulation": {"control_port": 0, "tick_s": 0.05, "ev_profiles": PROFILES},
        }
    )


async def no_daemon() -> SiteView:
    raise DaemonNotRunning("no daemon in this test")


async def test_a_day_runs_every_step_and_survives_what_it_cannot_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(READERS_ENV, raising=False)  # no simulated reader: the tap is not done
    settings = demo_like_site(tmp_path)
    port = int(settings.ocpp.url.rsplit(":", 1)[1]) if settings.ocpp.url else 0
    csms = CsmsProcess("127.0.0.1", port, tmp_path / "csms.jsonl")
    out = io.StringIO()
    async with running_site(settings) as sim, SimControlClient(sim.control_url) as client:
        site = settings.site
        revenue = partial(revenue_line, settings.database_path, site.id, site.zone)
        day = DemoDay(settings, client, csms, out, no_daemon, connect_wait_s=0.5, revenue=revenue)
        try:
            await day.run(seconds_per_hour=0.2, days=1)
            running_at_end = csms.running
            state = await client.state()
        finally:
            await csms.stop()
    lines = out.getvalue().splitlines()
    steps = [line for line in lines if "→" not in line]
    assert len(steps) == len(DAY) + 2  # every step, the revenue, then "the day is over"
    assert "revenue: no session recorded yet" in steps[-2]  # no daemon recorded any
    assert any("cp1 not connected yet" in line for line in lines)
    assert any("RemoteStartTransaction" in line for line in lines)
    assert any("pays on the bench CSMS's page" in line for line in lines)
    assert any("→ not done: cp1 is not connected to the CSMS" in line for line in lines)
    needs_peer = [
        s
        for s in DAY
        if isinstance(s.action, RemoteStart | WebPay | CardAtTerminal | SendLocalList | Tap)
    ]
    not_done = [line for line in lines if "→ not done" in line]
    assert len(not_done) == len(needs_peer)  # plugs, leaves, loads, CSMS up/down all worked
    assert running_at_end  # the outage ended: the CSMS was started again
    left = {s.action.connector for s in DAY if isinstance(s.action, Leave)}
    arrived = {s.action.connector for s in DAY if isinstance(s.action, Arrive)}
    assert arrived == left
    assert all(state["connectors"][c]["ev"] is None or state["connectors"][c]["ev"]["leaving"]
               for c in left)  # fmt: skip
    assert state["base_load_override"] is True
