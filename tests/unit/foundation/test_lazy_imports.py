"""A small site pays in memory only for what it uses: the daemon's composition root and a
config without certificate files load neither aiohttp (~12 MB resident, for the web faces)
nor cryptography (~10 MB, for certificates), nor the OCPP and websocket libraries. The
figure itself is measured by bench/bench_scale.py (the 24-connector row)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("aiohttp", "cryptography", "websockets", "ocpp", "smartcard")
CONFIG = """
site: {id: s, grid_limit_a: 63}
buses: {lan: {type: tcp, host: 127.0.0.1}}
chargers: {wb1: {bus: lan, unit_id: 1, profile: keba_kecontact_p30}}
meters: {grid: {bus: lan, unit_id: 2, profile: eastron_sdm630}}
mqtt: {enabled: true}
"""
PROBE = """
import json, sys
from pathlib import Path
import edge_controller.app.daemon
from edge_controller.config.load import load_settings
load_settings(Path(sys.argv[1]))
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_a_site_without_web_ocpp_or_certificates_loads_none_of_their_libraries(
    tmp_path: Path,
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    assert "edge_controller" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_the_ocpp_uplink_loads_the_http_client_only_to_upload_diagnostics() -> None:
    probe = "import sys, edge_controller.uplink.service; print('aiohttp' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_the_ocpp_uplink_loads_the_ftp_client_only_to_upload_diagnostics_by_ftp() -> None:
    """ftplib: about 0.1 MB resident in every daemon with OCPP on, used only when a CSMS
    asks for diagnostics or a log at an ftp:// location."""
    probe = "import sys, edge_controller.uplink.service; print('ftplib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_the_ocpp_uplink_loads_the_2x_sessions_only_when_a_csms_chooses_2x() -> None:
    """Their session, station and handlers: about 0.3 MB of objects a 1.6 site never uses."""
    probe = (
        "import sys, edge_controller.app.daemon, edge_controller.uplink.service; "
        "print(sorted(m for m in sys.modules if m.startswith("
        "('edge_controller.uplink.v201.session', 'edge_controller.uplink.v201.station'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_web_faces_load_the_prometheus_client_only_at_the_first_scrape() -> None:
    """prometheus_client and the HTTP server modules it loads: about 1 MB of objects in the
    daemon (tracemalloc of its imports, with and without) that a site nobody scrapes never
    uses. The scrape itself: ``tests/integration/web/test_metrics_bus.py``."""
    probe = (
        "import sys, edge_controller.app.daemon, edge_controller.app.web; "
        "from edge_controller.web.metrics import MetricsRoute; "
        "MetricsRoute(lambda: None, None, {'ops': 'token'}); "
        "print('prometheus_client' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_the_first_scrape_loads_the_prometheus_client_off_the_event_loop() -> None:
    """The import takes tens of milliseconds: made by the scrape's handler on the loop's
    thread it would hold every control step for as long."""
    probe = """
import asyncio, sys, threading
threads = []
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "prometheus_client":
            threads.append(threading.current_thread() is threading.main_thread())
sys.meta_path.insert(0, Spy())
from aiohttp.test_utils import make_mocked_request
from edge_controller.domain.snapshot import SiteView
from edge_controller.web.metrics import MetricsRoute
class Desk:
    async def open_count(self):
        return 0
async def scrape(route):
    request = make_mocked_request("GET", "/metrics", headers={"Authorization": "Bearer t"})
    return await route.metrics(request)
route = MetricsRoute(lambda: SiteView("s", None, 40.0, None, None), Desk(), {"ops": "t"})
first = asyncio.run(scrape(route))
second = asyncio.run(scrape(route))
print(first.status, second.status, b"edge_problem_reports_open 0" in first.body, threads)
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["200", "200", "True", "[False]"], out


def test_the_web_faces_load_the_qr_encoder_only_to_make_a_code() -> None:
    probe = (
        "import sys, edge_controller.web.server, edge_controller.web.display; "
        "before = 'segno' in sys.modules; "
        "from edge_controller.web.qr import qr_svg; svg = qr_svg('https://example.org/c1'); "
        "print(before, 'segno' in sys.modules, svg.startswith('<svg'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True", "True"]


def test_the_daemons_command_line_loads_no_status_rendering_and_no_did_you_mean(
    tmp_path: Path,
) -> None:
    """The status screen's rendering (``tests/e2e/test_views.py`` runs ``status``) and difflib,
    whose close matches a refused config's keys get (``tests/unit/config/test_settings.py``):
    about 0.2 MB of objects a running daemon never uses."""
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    probe = PROBE.replace("import edge_controller.app.daemon", "import edge_controller.cli")
    probe = probe.replace('{m.split(".")[0] for m in sys.modules}', "sys.modules")
    out = subprocess.run(
        [sys.executable, "-c", probe, str(config)], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    assert "edge_controller.cli" in loaded
    unused = loaded & {"difflib", "edge_controller.api.render"}
    assert unused == set(), unused
