"""The site's central services, as the optional faces (the OCPP uplink, the web) reach them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edge_controller.api.jobs import CommissioningRuns
from edge_controller.app.commands import CommandPort
from edge_controller.app.views import ConnectorViews, SiteViews
from edge_controller.domain.snapshot import ErrorEvent
from edge_controller.domain.web_payment import QrCodes
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.display_board import MessageBoard
from edge_controller.services.sessions.manager import SessionManager
from edge_controller.storage.database import Database
from edge_controller.storage.outbox import Outbox

if TYPE_CHECKING:  # a site's payments are imported with its terminals (``app.payments``)
    from edge_controller.services.payments.auto_arm import AutoArm


@dataclass(frozen=True)
class SiteServices:
    """Made once by ``build_site`` before any face that uses them; a face takes its ports from
    here when it is made (commands through the one command port)."""

    controller: SiteController
    sessions: SessionManager
    connectors: ConnectorViews
    views: SiteViews
    commands: CommandPort
    outbox: Outbox
    db: Database
    board: MessageBoard  # what the CSMS set for drivers, for the faces that show it
    qr: QrCodes  # the connectors' payment QR codes
    runs: CommissioningRuns | None = None  # scan and selftest through the daemon's buses
    # the card readers' last error events, newest first, by reader id
    reader_errors: Callable[[], Mapping[str, Sequence[ErrorEvent]]] | None = None
    # the terminals that arm themselves, by terminal id (what the display says of them)
    arms: Mapping[str, AutoArm] = field(default_factory=dict)
