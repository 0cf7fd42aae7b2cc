"""Command line: `edge-controller <command>`.

Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from edge_controller import __version__, log
from edge_controller.config_load import load_settings
from edge_controller.config_yaml import ConfigError
from edge_controller.settings import Settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments: exit code 2."""


def _load(path: Path) -> Settings:
    settings = load_settings(path)
    log.redactor.set_secrets(settings.secrets())
    return settings


def summary(settings: Settings) -> list[str]:
    """The validated site in a few lines an installer can check against the wiring."""
    site = settings.site
    lines = [
        f"site {site.id}: {site.phases} phase(s), {site.nominal_voltage_v:g} V, "
        f"grid limit {site.grid_limit_a:g} A per phase"
        + (f", power limit {site.power_limit_w:g} W" if site.power_limit_w else "")
        + f", fallback {site.fallback_current_a:g} A per connector",
    ]
    lines += [f"feeder {fid}: {f.limit_a:g} A per phase" for fid, f in site.feeders.items()]
    for bus_id, bus in settings.buses.items():
        where = (
            f"{bus.host}:{bus.port}"
            if bus.type != "rtu"
            else (f"{bus.device} {bus.baud} {bus.data_bits}{bus.parity}{bus.stop_bits}")
        )
        lines.append(f"bus {bus_id}: {bus.type} {where}, timeout {bus.timeout_s:g} s")
    connectors = 0
    for cid, c in settings.chargers.items():
        connectors += c.connectors
        lines.append(
            f"charger {cid}: {c.profile} on {c.bus} unit {c.unit_id}, {c.connectors} connector(s), "
            f"{c.min_current_a:g}-{c.max_current_a:g} A, phases {c.phase_rotation}"
            + (" (simulated)" if c.simulated else "")
        )
    for mid, m in settings.meters.items():
        lines.append(
            f"meter {mid}: {m.profile} on {m.bus} unit {m.unit_id}, role {m.role}"
            + (" (simulated)" if m.simulated else "")
        )
    for rid, r in settings.readers.items():
        lines.append(f"reader {rid}: /{r.name_pattern}/ → {', '.join(r.connectors)}")
    lines.append(
        f"total: {len(settings.chargers)} charger(s), {connectors} connector(s), "
        f"{len(settings.meters)} meter(s), {len(settings.readers)} reader(s)"
    )
    lines.append(
        "ocpp: "
        + (
            f"{settings.ocpp.url} as {settings.ocpp.topology}"
            if settings.ocpp.enabled
            else "disabled"
        )
    )
    lines.append(
        "mqtt: "
        + (
            f"{settings.mqtt.host}:{settings.mqtt.port} prefix {settings.mqtt_prefix}"
            if settings.mqtt.enabled
            else "disabled"
        )
    )
    return lines


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _load(args.file)
    print(f"{args.file}: OK")
    for line in summary(settings):
        print(f"  {line}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    log.configure(settings.logging.level, settings.logging.format)
    from edge_controller.app import run_daemon

    asyncio.run(run_daemon(settings, args.config))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-controller", description=__doc__)
    parser.add_argument("--version", action="version", version=f"edge-controller {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", type=Path, required=True, help="site config YAML")
    run.set_defaults(handler=cmd_run)
    check = sub.add_parser("check-config", help="validate a site config and print a summary")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        print("refusing to start: fix the configuration and try again", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"edge-controller: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception:
        log.get_logger("cli").exception("fatal error")
        return EXIT_FAILURE
