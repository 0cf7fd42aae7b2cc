"""The dependency rule of the design, for every package: inner layers never import outer ones,
each third-party library that does I/O has one home, and OCPP stays inside the uplink."""

from __future__ import annotations

import ast
import json
import re
import sys
from functools import cache
from importlib import resources
from pathlib import Path

PACKAGE = Path(__file__).parents[3] / "edge_controller"
APP = "app"  # the composition root: the only package that may import everything

# package or top-level module (first path part under edge_controller) -> what of ours it may
# import ("__init__" is the package's own __version__).
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain"},
    "ports": {"ports", "domain"},
    "drivers": {"drivers", "ports", "domain", "log"},
    "storage": {"storage", "domain", "log", "textpath"},
    "services": {"services", "domain", "ports", "storage", "log"},
    # the uplink and telemetry take their own settings sections (OcppSettings, MqttSettings)
    "uplink": {"uplink", "domain", "config", "log", "textpath"},
    "telemetry": {"telemetry", "domain", "config", "log", "__init__"},
    "api": {"api", "domain"},
    "web": {"web", "api", "domain", "config", "log", "__init__"},
    # config asks the driver registry which device profiles exist (checked at load)
    "config": {"config", "domain", "drivers", "log"},
    # the simulator serves register maps (drivers' profiles) and its bench CSMS reuses the
    # uplink's clock and ocpp entry points
    "sim": {"sim", "drivers", "domain", "config", "log", "uplink", "api"},
    "cli": {
        "__init__",
        "cli",
        "app",
        "api",
        "config",
        "drivers",
        "heap",
        "log",
        "sim",
        "storage",
        "web",
    },
    "__main__": {"cli"},
    "log": set(),
    "systemd": set(),
    "heap": set(),
    "textpath": set(),
    APP: {
        "__init__",
        APP,
        "api",
        "config",
        "domain",
        "drivers",
        "log",
        "ports",
        "services",
        "storage",
        "systemd",
        "telemetry",
        "uplink",
        "web",
    },
}

# third-party (and stdlib I/O) module -> the only layers that may import it, and why
OWNERS: dict[str, set[str]] = {
    "sqlite3": {"storage"},
    "ocpp": {"uplink", "sim"},  # sim: the bench CSMS
    "websockets": {"uplink", "sim"},  # sim: the bench CSMS
    "aiomqtt": {"telemetry"},
    "paho": {"telemetry"},
    "smartcard": {"drivers"},  # pyscard
    "serial": {"drivers"},  # pyserial
    # the drivers speak Modbus with their own client; pymodbus only serves the simulator
    "pymodbus": {"sim"},
    # api: the status socket's HTTP server; uplink: the GetDiagnostics upload (HTTP client);
    # sim: its control interface; web: the site display, REST API and metrics
    "aiohttp": {"api", "uplink", "sim", "web"},
    "prometheus_client": {"web"},
    "structlog": {"log"},
}
# The domain decides; it never waits, opens, reads a clock or a setting.
DOMAIN_FORBIDDEN = {"asyncio", "socket", "ssl", "subprocess", "threading", "os", "time", "io"}
CLOCK_READS = {"now", "utcnow", "today", "monotonic", "perf_counter", "time"}


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imports(path: Path) -> set[str]:
    """Every absolute module name imported anywhere in the file (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "edge_controller":
            # from edge_controller import log, cli (modules); __version__ is the package's own
            found |= {
                "edge_controller"
                if alias.name.startswith("__")
                else f"edge_controller.{alias.name}"
                for alias in node.names
            }
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _internal_imports(path: Path) -> set[str]:
    parts = (name.split(".") for name in _imports(path))
    return {p[1] if len(p) > 1 else "__init__" for p in parts if p[0] == "edge_controller"}


def _external_imports(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imports(path)} - {"edge_controller"}


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE
    )


def test_every_layer_has_a_rule() -> None:
    assert {_layer(p) for p in _modules()} <= set(ALLOWED)


def test_layers_import_only_what_the_design_allows() -> None:
    violations = []
    for path in _modules():
        layer, imported = _layer(path), _internal_imports(path)
        if not imported <= ALLOWED[layer]:
            violations.append(
                f"{path.relative_to(PACKAGE)} imports {sorted(imported - ALLOWED[layer])}"
            )
    assert violations == []


def test_only_the_composition_root_imports_the_services() -> None:
    importers = {_layer(p) for p in _modules() if "services" in _internal_imports(p)}
    assert importers <= {APP, "services"}


def test_only_the_app_wires_drivers() -> None:
    importers = {
        str(p.relative_to(PACKAGE))
        for p in _modules()
        if "drivers" in _internal_imports(p) and _layer(p) not in {"drivers", "sim"}
    }
    # config.load only asks the registry which profiles exist; cli and app/config_report.py
    # (check-config's lines, for the command and the console) report bus timing;
    # app/scan.py and app/selftest.py (and selftest_live.py, its read-only part through the
    # running daemon) are the commissioning commands, which probe devices;
    # app/payments.py builds the payment terminals of the composition root.
    wiring = {"app/hardware.py", "app/site.py", "app/payments.py", "config/load.py", "cli.py",
              "app/config_report.py"}  # fmt: skip
    assert importers <= wiring | {"app/scan.py", "app/selftest.py", "app/selftest_live.py"}


def test_each_io_library_has_its_home() -> None:
    violations = [
        f"{path.relative_to(PACKAGE)} imports {lib}"
        for path in _modules()
        for lib in sorted(_external_imports(path) & set(OWNERS))
        if _layer(path) not in OWNERS[lib]
    ]
    assert violations == []


def test_the_domain_does_no_io_and_reads_no_clock() -> None:
    violations = []
    for path in (p for p in _modules() if _layer(p) == "domain"):
        where = path.relative_to(PACKAGE)
        external = _external_imports(path)
        third_party = external - set(sys.stdlib_module_names) - {"__future__"}
        violations += [f"{where} imports {m}" for m in sorted(external & DOMAIN_FORBIDDEN)]
        violations += [f"{where} imports {m}" for m in sorted(third_party)]
        violations += [
            f"{where} reads a clock: .{node.func.attr}()"
            for node in ast.walk(_tree(path))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_READS
        ]
    assert violations == []


def test_the_rule_checker_sees_imports() -> None:
    assert "domain" in _internal_imports(PACKAGE / "ports.py")
    assert "sqlite3" in _external_imports(PACKAGE / "storage" / "database.py")
    assert "drivers" in _internal_imports(PACKAGE / "app" / "hardware.py")  # inside a function
    assert "log" in _internal_imports(PACKAGE / "cli.py")  # from edge_controller import log


# --- OCPP stays inside uplink/ -----------------------------------------------------------------
# Nothing outside uplink/ (and sim/'s bench CSMS, and tests) should read or write OCPP names:
# camelCase field names (idTag, connectorId ...), action names of two words or more
# (StartTransaction ...) and dotted enum values (Sample.Periodic, Energy.Active.Import.Register)
# of the OCPP 1.6 schemas. One-word names (status, Accepted, Heartbeat) are too common to tell.
#
# This list is exactly the places that still do (none), so that new ones fail here:
OCPP_OUTSIDE_UPLINK: dict[str, set[str]] = {}
# The schema 8 migration reads the OCPP 1.6 messages earlier releases queued in the outbox and
# turns them into events: the one place outside uplink/ that must know those names, for good.
MIGRATION_FROM_OCPP16 = "storage/outbox/from_ocpp16.py"
OCPP_HOMES = {"uplink", "sim"}
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]")


@cache
def _ocpp_vocabulary() -> frozenset[str]:
    fields: set[str] = set()
    values: set[str] = set()
    actions: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            fields.update(node.get("properties", {}))
            values.update(v for v in node.get("enum", []) if isinstance(v, str))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for entry in (resources.files("ocpp") / "v16" / "schemas").iterdir():
        if entry.name.endswith(".json"):
            walk(json.loads(entry.read_text(encoding="utf-8")))
            actions.add(entry.name.removesuffix(".json").removesuffix("Response"))
    camel = {f for f in fields if re.fullmatch(r"[a-z]+[A-Z]\w*", f)}
    multi_word = {a for a in actions if re.fullmatch(r"[A-Z][a-z]+[A-Z]\w*", a)}
    return frozenset(camel | multi_word | {v for v in values if "." in v})


def _ocpp_names(path: Path) -> set[str]:
    """OCPP names in the file's string constants (docstrings aside: prose may name them)."""
    tree = _tree(path)
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    vocabulary = _ocpp_vocabulary()
    return {
        token
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
        for token in _TOKEN.findall(node.value)
        if token in vocabulary
    }


def test_ocpp_names_stay_inside_the_uplink() -> None:
    found = {
        str(path.relative_to(PACKAGE)): names
        for path in _modules()
        if _layer(path) not in OCPP_HOMES and (names := _ocpp_names(path))
    }
    assert found.pop(MIGRATION_FROM_OCPP16)  # it does read them (the checker sees it)
    assert found == OCPP_OUTSIDE_UPLINK


def test_the_ocpp_name_checker_sees_names() -> None:
    vocabulary = _ocpp_vocabulary()
    assert {"idTag", "StartTransaction", "Sample.Periodic"} <= vocabulary
    assert "Heartbeat" not in vocabulary and "status" not in vocabulary
    assert "connectorId" in _ocpp_names(PACKAGE / "uplink" / "v16" / "status.py")
