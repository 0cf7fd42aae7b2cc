"""A running 1.6 uplink holds only what it uses: ``cryptography`` (about 12 MB resident) waits
for the first certificate the CSMS installs, asks for or signs, ``jsonschema`` for the first
payload the compiled schema checks refuse, only 1.6 schemas are read, and neither the 2.x
sessions' code nor the 2.x variable monitors and event rendering are imported, nor any module
of the ``ocpp`` package (its schemas are read as files). Checked in a fresh process
(``lean_child``), as a module once imported stays."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
V201 = "edge_controller.uplink.v201."
# What only a 2.x connection runs: its session, station and their handlers.
TWO_X = ("session", "station", "remote", "smart", "streams", "tariffs", "security",
         "charging_profiles")  # fmt: skip
# What a 1.6 identity never runs either: variable monitors (and the EVSE statuses they watch),
# TransactionEvent rendering, the device model's reports and GetVariables/SetVariables.
TWO_X_PARTS = ("edge_controller.uplink.v201.monitoring", "edge_controller.uplink.v201.status",
               "edge_controller.uplink.v201.render", "edge_controller.uplink.v201.variables",
               "edge_controller.uplink.device_model.report")  # fmt: skip


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the child held once its 1.6 connection ran."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.integration.ocpp.lean_child",
         str(tmp_path_factory.mktemp("lean"))],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    ).stdout  # fmt: skip
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found


def test_a_16_connection_loads_no_cryptography_and_no_2x_schema(held: dict[str, Any]) -> None:
    assert held["schema_versions"] == ["1.6"]
    # The routine CALLs' request and response checks, all built: the connection ran.
    assert held["routine_checks_built"] == 16
    assert "ocpp" in held["packages"]
    assert "cryptography" not in held["packages"]
    # The 2.x sessions' code (about 0.3 MB of objects) is imported when a CSMS chooses 2.x.
    two_x = [m for m in held["modules"] if m.startswith(V201) and m.removeprefix(V201) in TWO_X]
    assert two_x == [], two_x


def test_routine_16_traffic_is_checked_without_jsonschema(held: dict[str, Any]) -> None:
    """Boot, statuses, a session's start, meter value and stop, and a CSMS request, each
    checked by its compiled check: ``jsonschema`` with ``referencing``, ``rpds`` and their
    own (about 2.5 MB resident) waits for a payload those refuse (``test_schema_checks``)."""
    assert held["routine_checks_built"] == 16
    official = ("jsonschema", "jsonschema_specifications", "referencing", "rpds")
    loaded = [p for p in official if p in held["packages"]]
    assert loaded == [], loaded


def test_a_16_connection_loads_no_2x_monitors_or_event_rendering(held: dict[str, Any]) -> None:
    """About 0.2 MB of objects (tracemalloc) and 1 MB of RSS in a 10-connector daemon."""
    loaded = [m for m in TWO_X_PARTS if m in held["modules"]]
    assert loaded == [], loaded


def test_a_16_connection_runs_its_compiled_checks_without_the_compiler(
    held: dict[str, Any],
) -> None:
    """``fastjsonschema`` compiles in the builder's child only: about 0.25 MB of objects."""
    assert held["routine_checks_built"] == 16
    assert "fastjsonschema" not in held["packages"]


def test_a_16_connection_makes_its_messages_without_the_ocpp_packages_classes(
    held: dict[str, Any],
) -> None:
    """Any module of ``ocpp.v16`` imports the package's ChargePoint and its message classes:
    about 1 MB of objects (``ocpp_compat`` makes the classes it uses from the schemas)."""
    assert held["routine_checks_built"] == 16
    from_package = [m for m in held["modules"] if m.startswith("ocpp.")]
    assert from_package == [], from_package


def test_the_daemon_imports_scan_selftest_and_html_entities_only_when_used(
    held: dict[str, Any],
) -> None:
    """A bus scan's and the selftest's code are imported when one runs through the daemon
    (``tests/e2e/test_commissioning.py``, ``tests/integration/sim/test_through_daemon.py``), and
    ``html``'s entity table when a receipt is rendered: about 0.7 MB of objects together."""
    assert "edge_controller.app.site" in held["modules"]
    held_for_nothing = ("edge_controller.app.scan", "edge_controller.app.selftest",
                        "edge_controller.app.selftest_live", "edge_controller.drivers.modbus.scan",
                        "html", "html.entities")  # fmt: skip
    loaded = [m for m in held_for_nothing if m in held["modules"]]
    assert loaded == [], loaded


def test_a_site_without_card_terminals_imports_no_payment_code(held: dict[str, Any]) -> None:
    """The ZVT driver, the payment flows and their store come with a configured terminal
    (``tests/e2e/test_payments.py``, ``tests/e2e/test_auto_arm.py`` run them through the
    daemon): about 0.4 MB of objects."""
    assert "edge_controller.app.payments" in held["modules"]
    payment_code = ("edge_controller.drivers.payment.zvt", "edge_controller.services.payments",
                    "edge_controller.storage.payments_store")  # fmt: skip
    loaded = [m for m in payment_code if m in held["modules"]]
    assert loaded == [], loaded


def test_a_standalone_site_imports_no_several_gateway_code(held: dict[str, Any]) -> None:
    """The parent's and the child's code comes with ``site.role`` (``tests/e2e/test_gateways.py``
    runs both through the daemon): about 0.4 MB of objects."""
    assert "edge_controller.services.control.site_controller" in held["modules"]
    loaded = [m for m in held["modules"] if m.startswith("edge_controller.domain.gateways")]
    assert loaded == [], loaded
