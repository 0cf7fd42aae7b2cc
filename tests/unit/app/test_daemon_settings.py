"""The daemon keeps no simulator script: a generated 1,000-connector site has an entry per
connector, read by the simulator alone."""

from __future__ import annotations

from pathlib import Path

from edge_controller.app.daemon import Daemon
from edge_controller.config.load import load_settings
from edge_controller.systemd import Notifier

CONFIG = """\
site: {{id: s1, grid_limit_a: 32}}
storage: {{state_dir: {state}}}
chargers:
  wb1: {{bus: b1, unit_id: 1, profile: keba_kecontact_p30, simulated: true}}
buses:
  b1: {{type: tcp, host: 127.0.0.1, port: 15020}}
simulation:
  ev_profiles: {{compact: {{}}}}
  ev_script: [{script}]
"""


async def test_the_daemon_drops_the_simulator_s_script_and_a_change_to_it_needs_no_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "site.yaml"
    visit = "{connector: 'wb1:1', profile: compact, arrive_s: %s}"
    path.write_text(CONFIG.format(state=tmp_path, script=visit % 1), encoding="utf-8")
    settings = load_settings(path)
    assert len(settings.simulation.ev_script) == 1
    daemon = Daemon(settings, path, Notifier(""), [])
    assert daemon.settings.simulation.ev_script == []
    assert daemon.settings.simulation.ev_profiles == settings.simulation.ev_profiles
    assert daemon.settings.chargers == settings.chargers
    path.write_text(CONFIG.format(state=tmp_path, script=visit % 5), encoding="utf-8")
    assert await daemon.reload() == []
    path.write_text(
        CONFIG.format(state=tmp_path, script=visit % 5).replace(
            "grid_limit_a: 32", "grid_limit_a: 40"
        ),
        encoding="utf-8",
    )
    assert await daemon.reload() == ["site.grid_limit_a"]
