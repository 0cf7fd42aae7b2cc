"""The composition root: builds every service from the settings (``site``: the channels first,
then each service on them; the devices in ``hardware``, the command port in ``commands``, the
status views in ``views``, the OCPP uplink in ``uplink``, the MQTT feed in ``telemetry``) and
runs them in one TaskGroup with signals, reload and an orderly shutdown (``daemon``). The only
package that imports everything. The three main ways through the code start here
(``docs/architecture.md``).
"""

from edge_controller.app.daemon import Daemon, run_daemon
from edge_controller.app.site import build_site

__all__ = [
    "Daemon",
    "build_site",
    "run_daemon",
]
