"""The composition root: builds every service from the settings (``site``, with the devices in
``hardware`` and the uplink in ``uplink``) and runs them in one TaskGroup with signals, reload and
an orderly shutdown (``daemon``). The only package that imports everything.
"""

from edge_controller.app.daemon import Daemon, run_daemon
from edge_controller.app.site import build_site

__all__ = [
    "Daemon",
    "build_site",
    "run_daemon",
]
