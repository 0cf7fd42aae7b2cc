"""The dependency rule of the design: inner layers never import outer ones."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[3] / "edge_controller"

# package (first path part under edge_controller) -> internal packages it may import
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain"},
    "ports": {"domain", "ports"},
    "drivers": {"drivers", "ports", "domain", "log"},
}
NEVER_DRIVERS = {"uplink", "telemetry", "storage", "services", "domain", "ports"}


def _internal_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "edge_controller" and len(parts) > 1:
                found.add(parts[1])
    return found


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_layers_import_only_what_the_design_allows() -> None:
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer, imported = _layer(path), _internal_imports(path)
        allowed = ALLOWED.get(layer)
        if allowed is not None and not imported <= allowed:
            violations.append(f"{path.relative_to(PACKAGE)} imports {sorted(imported - allowed)}")
        if layer in NEVER_DRIVERS and "drivers" in imported:
            violations.append(f"{path.relative_to(PACKAGE)} imports drivers")
    assert violations == []


def test_only_app_wires_drivers_into_services() -> None:
    importers = {
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "drivers" in _internal_imports(p) and _layer(p) not in {"drivers", "sim"}
    }
    # config_load only asks the registry which profiles exist; cli reports bus timing.
    assert importers <= {"app.py", "app_build.py", "config_load.py", "cli.py"}


def test_the_rule_checker_sees_imports() -> None:
    assert "domain" in _internal_imports(PACKAGE / "ports.py")
