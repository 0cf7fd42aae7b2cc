"""Structure figures of the package, to compare layouts over time.

    .venv/bin/python scripts/code_figures.py [--json]

Figures: module count, top-level modules of ``edge_controller/``, the longest function (lines),
the largest parameter list (``self``/``cls`` not counted), and three flows from the composition
root: the path the data takes, step by step, as ``module:qualified_name``. A step names a real
function (the script checks it exists, so a move that forgets to update a flow fails here).
Module hops count consecutive steps in different modules; package switches count consecutive
steps in different layers (the first package under ``edge_controller``: ``app``, ``domain``,
``services``, ``uplink`` ...).
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edge_controller"

# Each flow: the functions the data passes through, in order (calls and the returns that carry
# the data on). Same-module steps are listed where they show a turn of the path.
FLOWS: dict[str, list[str]] = {
    "grid reading -> setpoint written": [
        "app.hardware:open_hardware",
        "services.control.poller:Poller.poll_once",
        "app.hardware:GridPhaseMeter.read",
        "drivers.modbus.meter:ProfileMeter.read",
        "domain.balancing.wiring:reading_to_grid_phases",
        "services.control.poller:Poller.poll_once",
        "services.control.site_controller:SiteController._grid_read",
        "services.control.connector:remember",
        "services.control.site_controller:SiteController.step",
        "services.control.connector:ConnectorRuntime.demand",
        "services.control.site_controller:SiteController._decide",
        "domain.balancing.allocate:allocate",
        "domain.balancing.caution:hold_unconfirmed_increases",
        "services.control.site_controller:SiteController._set",
        "drivers.modbus.charger:ProfileCharger.set_current",
    ],
    "card tap -> transaction message in the outbox": [
        "app.site:build_readers",
        "drivers.pcsc.reader:PcscTokenReader.tokens",
        "services.readers:ReaderService.handle",
        "domain.sessions.tap_routing:route_tap",
        "services.sessions.manager:SessionManager.on_token",
        "services.sessions.auth:TokenAuthorizer.decide",
        "uplink.authorization:CsmsAuthorization.authorize",
        "uplink.service:OcppUplink.authorize",
        "services.sessions.auth:TokenAuthorizer._decide",
        "domain.sessions.authorization:decide",
        "services.sessions.manager:SessionManager._answer_claim",
        "domain.sessions.state:transition",
        "services.sessions.actions:SessionActions.perform",
        "services.sessions.recorder:SessionRecorder.open",
        "storage.sessions_store:SessionStore.start",
        "storage.outbox.rows:append_in",
        "storage.outbox.codec:encode",
    ],
    "MQTT limit -> setpoint written": [
        "app.site:build_site",
        "telemetry.service:MqttService._receive",
        "telemetry.receiver:CommandReceiver.handle",
        "telemetry.command_parse:CommandParser.parse",
        "telemetry.receiver:CommandReceiver._execute",
        "app.commands:CommandPort.decide",
        "app.commands:CommandPort._route",
        "services.control.site_controller:SiteController.apply",
        "services.control.site_controller:SiteController.step",
        "domain.balancing.allocate:allocate",
        "services.control.site_controller:SiteController._set",
        "drivers.modbus.charger:ProfileCharger.set_current",
    ],
}


@dataclass(frozen=True)
class Function:
    module: str
    name: str
    lines: int
    params: int


def modules() -> dict[str, Path]:
    """Dotted module name (without ``edge_controller.``) -> file."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts) or "__init__"] = path
    return found


def functions(module: str, path: Path) -> list[Function]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                a = child.args
                names = [p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]]
                names += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
                params = len([n for n in names if n not in {"self", "cls"}])
                lines = (child.end_lineno or child.lineno) - child.lineno + 1
                out.append(Function(module, f"{prefix}{child.name}", lines, params))
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return out


def layer(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


def flow_figures(found: dict[str, Path], defined: set[str]) -> dict[str, dict[str, int]]:
    figures = {}
    for name, steps in FLOWS.items():
        missing = [s for s in steps if s not in defined]
        if missing:
            sys.exit(f"flow {name!r}: no such function: {missing}")
        mods = [s.split(":")[0] for s in steps]
        pairs = list(itertools.pairwise(mods))
        figures[name] = {
            "steps": len(steps),
            "modules": len(set(mods)),
            "module_hops": sum(1 for a, b in pairs if a != b),
            "package_switches": sum(1 for a, b in pairs if layer(a) != layer(b)),
        }
    return figures


def figures() -> dict[str, object]:
    found = modules()
    every = [f for module, path in found.items() for f in functions(module, path)]
    defined = {f"{f.module}:{f.name}" for f in every}
    longest = max(every, key=lambda f: f.lines)
    widest = max(every, key=lambda f: f.params)
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    return {
        "modules": len(found),
        "modules_without_init": sum(1 for p in found.values() if p.name != "__init__.py"),
        "top_level_modules": len(top),
        "top_level_module_names": top,
        "longest_function_lines": longest.lines,
        "longest_function": f"{longest.module}:{longest.name}",
        "largest_parameter_list": widest.params,
        "largest_parameter_list_function": f"{widest.module}:{widest.name}",
        "flows": flow_figures(found, defined),
    }


def widest(count: int) -> list[Function]:
    """The ``count`` functions with the most parameters, then the longest first."""
    every = [f for module, path in modules().items() for f in functions(module, path)]
    return sorted(every, key=lambda f: (-f.params, -f.lines, f.module, f.name))[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--top", type=int, default=0, help="also list the N widest functions")
    args = parser.parse_args()
    result = figures()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for function in widest(args.top):
        print(f"{function.params} parameters, {function.lines} lines: "
              f"{function.module}:{function.name}")  # fmt: skip
    for key, value in result.items():
        if key == "flows":
            continue
        print(f"{key}: {value}")
    flows = result["flows"]
    assert isinstance(flows, dict)
    for name, row in flows.items():
        print(f"flow {name}: " + ", ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
