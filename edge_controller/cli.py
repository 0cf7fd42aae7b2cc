"""Command line: `edge-controller <command>`.

Exit codes (systemd restarts on 1 only: RestartPreventExitStatus=2 3 4):
  0  ok
  1  runtime failure; starting again may help (a full disk, a database locked by another
     process, an I/O error, an unexpected error)
  2  bad configuration or usage
  3  installation problem: the state directory or the database file cannot be written
     (ownership, permissions, a read-only file system)
  4  the recorded data needs an operator: the database is damaged (a copy is kept), missing or
     empty although one existed, or written by a newer release
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_controller import __version__, heap, log
from edge_controller.config.load import LoadedConfig, load_config
from edge_controller.config.settings import Settings
from edge_controller.config.yaml_reader import ConfigError
from edge_controller.storage.errors import NeedsOperator, StateDirUnusable, StorageError

if TYPE_CHECKING:  # the status command's, imported by it: the daemon never renders
    from edge_controller.api.render import Screen

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INSTALL, EXIT_DATA = 0, 1, 2, 3, 4
DEFAULT_CONFIG = Path("/etc/edge-controller/config.yaml")
# Start-up (building the site, the first connections, their schema checks, the first sessions)
# frees more than the running daemon allocates again for a long while, and glibc keeps what was
# freed: handed back once by then (heap.trim), 0.8 MB of the 62 MB of a 24-connector site with
# an identity per charger. Not repeated: at 1,000 identities the heap took what a trim gave
# back (0.3-1.1 MB) again within 20 s (docs/scaling.md).
START_UP_TRIM_S = 60.0
ALLOW_REMOTE_HELP = "listen on a non-loopback address on purpose (there is no authentication)"


class UsageError(Exception):
    """Bad arguments: exit code 2."""


def _load_config(path: Path) -> LoadedConfig:
    loaded = load_config(path)
    log.redactor.set_secrets(loaded.settings.secrets())
    return loaded


def _load(path: Path) -> Settings:
    return _load_config(path).settings


def cmd_check_config(args: argparse.Namespace) -> int:
    """One file, or a parent gateway's and its children's: each checked, then against each
    other (every problem of every file printed, exit 2 if any)."""
    paths: list[Path] = args.file
    if len(paths) == 1:
        _report_config(paths[0], _load_config(paths[0]))
        return EXIT_OK
    seen: dict[Path, Path] = {}
    for path in paths:
        first = seen.setdefault(path.resolve(), path)
        if first is not path:
            # Checked twice, a file would pass as two gateways: a child as two children.
            print(
                f"{path}: given more than once (as {first} before): give each gateway's "
                "config once",
                file=sys.stderr,
            )
            return EXIT_USAGE
    loaded: dict[Path, LoadedConfig] = {}
    refused: list[ConfigError] = []
    for path in paths:
        try:
            loaded[path] = _load_config(path)
        except ConfigError as error:
            refused.append(error)
    if not refused:
        refused = _cross_checked(loaded)
    for problem in refused:
        print(str(problem), file=sys.stderr)
    if refused:
        print("the configs do not fit together: fix them and check again", file=sys.stderr)
        return EXIT_USAGE
    for path, config in loaded.items():
        _report_config(path, config)
    given = {c.settings.site.gateways.child_id for c in loaded.values()}
    missing = [
        cid
        for c in loaded.values()
        for cid in c.settings.site.gateways.children
        if cid not in given
    ]
    unchecked = f"; children without a file, not checked: {', '.join(missing)}" if missing else ""
    print(f"together: OK ({len(paths)} gateways{unchecked})")
    return EXIT_OK


def _cross_checked(loaded: dict[Path, LoadedConfig]) -> list[ConfigError]:
    """The problems between a parent's and its children's configs, per file."""
    from edge_controller.config.gateway_files import GatewayFile, cross_checks
    from edge_controller.config.yaml_reader import ConfigIssue, format_path, load_yaml, read_text

    files = [GatewayFile(str(path), config.settings) for path, config in loaded.items()]
    by_file: dict[str, list[ConfigIssue]] = {}
    for problem in cross_checks(files):
        lines = load_yaml(read_text(Path(problem.source)), problem.source)
        issue = ConfigIssue(format_path(problem.key), problem.reason, lines.line_of(problem.key))
        by_file.setdefault(problem.source, []).append(issue)
    return [ConfigError(source, issues) for source, issues in by_file.items()]


def _report_config(path: Path, loaded: LoadedConfig) -> None:
    print(f"{path}: OK")
    for warning in loaded.warnings:
        print(f"  warning: {warning}")
    from edge_controller.app.config_report import site_lines

    for line in site_lines(loaded.settings):
        print(f"  {line}")


def cmd_run(args: argparse.Namespace) -> int:
    # Before any thread starts: a thread keeps the arena it got (edge_controller/heap.py).
    heap.limit_arenas()
    loaded = _load_config(args.config)
    settings = loaded.settings.for_daemon()
    log.configure(settings.logging.level, settings.logging.format)
    for warning in loaded.warnings:
        log.get_logger("config").warning("config warning", problem=str(warning))
    if settings.ocpp.enabled:
        # Found now, not at the first payload refused (its import waits for that): an OCPP
        # site without it could neither answer that CSMS CALL nor settle that outbox message.
        from edge_controller.app.daemon import ocpp_checks_missing

        missing = ocpp_checks_missing()
        if missing is not None:
            log.get_logger("cli").critical("cannot start", error=missing, exit_code=EXIT_INSTALL)
            print(f"edge-controller: {missing}; refusing to start", file=sys.stderr)
            return EXIT_INSTALL
    del loaded  # its settings still hold what the simulator alone reads
    asyncio.run(_run_daemon(settings, args.config))
    return EXIT_OK


async def _run_daemon(settings: Settings, config_path: Path) -> None:
    from edge_controller.app.daemon import run_daemon

    trim = asyncio.get_running_loop().call_later(START_UP_TRIM_S, heap.trim)
    try:
        await run_daemon(settings, config_path)
    finally:
        trim.cancel()


def _terminal() -> tuple[int, int] | None:
    """Columns and rows of the terminal on stdout, stderr or stdin (the demo's view reads
    stdout through a pipe, but the terminal is still there)."""
    for fd in (1, 2, 0):
        with contextlib.suppress(OSError):
            size = os.get_terminal_size(fd)
            return size.columns, size.lines
    return None


def _screen(watch: bool) -> Screen:
    """--watch fits the terminal (80×24 without one); a single answer only its width."""
    from edge_controller.api.render import Screen

    found = _terminal()
    if watch:
        columns, rows = found or (80, 24)
        return Screen(columns, rows)
    return Screen(found[0]) if found is not None and sys.stdout.isatty() else Screen()


async def _status(args: argparse.Namespace, socket_path: Path) -> int:
    from edge_controller.api.client import DaemonNotRunning, fetch_status
    from edge_controller.api.codec import site_to_json
    from edge_controller.api.render import render

    while True:
        try:
            view = await fetch_status(socket_path)
        except DaemonNotRunning as exc:
            if not args.watch:
                print(f"edge-controller: {exc}", file=sys.stderr)
                return EXIT_FAILURE
            stamp = time.strftime("%H:%M:%S UTC", time.gmtime())
            text = f"{stamp}  waiting for the daemon ({exc})"
        else:
            screen = _screen(args.watch)
            text = json.dumps(site_to_json(view), indent=2) if args.json else render(view, screen)
        if not args.watch:
            print(text)
            return EXIT_OK
        print("\x1b[H\x1b[2J" + text, flush=True)
        await asyncio.sleep(args.interval_s)


def cmd_status(args: argparse.Namespace) -> int:
    from edge_controller.api.server import STATUS_SOCKET

    settings = _load(args.config)
    return asyncio.run(_status(args, settings.storage.state_dir / STATUS_SOCKET))


def run_until_signal(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` until it ends or SIGTERM/SIGINT cancels it (so it can clean up)."""

    async def supervised() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await main

    asyncio.run(supervised())


def cmd_generate(description_path: Path, out: Path | None) -> int:
    """Write the config the description makes; it is checked like any config before it is."""
    import yaml

    from edge_controller.config.load import config_from_yaml, default_profiles
    from edge_controller.config.yaml_reader import LoadedYaml, load_yaml, read_text
    from edge_controller.sim.generate import GenerateError, generate_site

    if out is None:
        raise UsageError("simulate --generate: give --out FILE for the site config")
    try:
        described = load_yaml(read_text(description_path), str(description_path))
    except ConfigError as exc:
        raise UsageError(f"simulate --generate: {exc}") from exc
    description = described.data
    if not isinstance(description, dict):
        raise UsageError(f"simulate --generate: {description_path}: not a mapping")
    try:
        config = generate_site(description)
    except GenerateError as exc:
        raise UsageError(f"simulate --generate: {description_path}: {exc}") from exc
    # Checked before it is written, against the description's own lines: a wrong key in the
    # description is named where the installer wrote it, and no broken file is left behind.
    try:
        settings = config_from_yaml(
            LoadedYaml(config, described.lines, described.issues),
            str(description_path),
            default_profiles(),
        ).settings
    except ConfigError as exc:
        print(f"{exc}\nnothing written: fix the description and generate again", file=sys.stderr)
        return EXIT_USAGE
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"simulate --generate: cannot write {out}: {exc}") from exc
    total = sum(c.connectors for c in settings.chargers.values())
    print(f"{out}: {len(settings.chargers)} charger(s), {total} connector(s)")
    if any(c.failsafe_current_a == 0 for c in settings.chargers.values()):
        from edge_controller.drivers.profiles.schema import load_profile

        # Only a charger whose profile programs its watchdog falls back by itself; the others
        # get the failsafe current from an orderly stop alone and keep their last setpoint
        # if the controller dies.
        unwatched = sorted(
            {
                c.profile
                for c in settings.chargers.values()
                if not load_profile(c.profile).has_watchdog
            }
        )
        print(
            f"  failsafe_current_a: 0 A on every charger: {total} connectors at 6 A would overload"
            " the grid or a feeder, so EVs pause if the controller stops"
            f" (site.fallback_current_a: {settings.site.fallback_current_a:g} A)"
        )
        if unwatched:
            print(
                f"  {', '.join(unwatched)}: no watchdog in the profile: these chargers pause on an"
                " orderly stop only and keep their last setpoint if the controller dies; set their"
                " own communication-loss fallback on the device"
            )
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from edge_controller.sim.binding import RemoteBindRefused, check_bind
    from edge_controller.sim.sim_site import SimStartError
    from edge_controller.sim.site import serve_site

    if args.generate is not None:
        return cmd_generate(args.generate, args.out)
    if args.config is None:
        raise UsageError("simulate: give --config FILE (or --generate DESCRIPTION --out FILE)")
    settings = _load(args.config)
    try:
        check_bind(settings.simulation.control_host, "simulation.control_host", args.allow_remote)
    except RemoteBindRefused as exc:
        raise UsageError(f"simulate: {exc}") from exc
    log.configure(settings.logging.level, settings.logging.format)
    try:
        run_until_signal(serve_site(settings, allow_remote=args.allow_remote))
    except SimStartError as exc:
        print(f"edge-controller simulate: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_csms(args: argparse.Namespace) -> int:
    from edge_controller.sim.binding import RemoteBindRefused, check_bind
    from edge_controller.sim.csms import serve_csms

    try:
        check_bind(args.host, "the bench CSMS (--host)", args.allow_remote)
    except RemoteBindRefused as exc:
        raise UsageError(f"csms: {exc}") from exc
    versions = tuple(v.strip() for v in args.versions.split(",") if v.strip())
    if not versions or not set(versions) <= {"1.6", "2.0.1", "2.1"}:
        raise UsageError(f"csms: --versions takes 1.6, 2.0.1 and 2.1, not {args.versions!r}")
    log.configure("info", "auto")
    print(f"bench CSMS on ws://{args.host}:{args.port}/<identity> (HTTP control: /state, /send)")
    serving = serve_csms(
        args.host, args.port, log_path=args.log, allow_remote=args.allow_remote, versions=versions
    )
    run_until_signal(serving)
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from edge_controller.storage.backup import backup_file

    settings = _load(args.config)
    written = backup_file(settings.database_path, args.dest)
    print(f"backup written: {written}")
    return EXIT_OK


async def _daemon_running(settings: Settings) -> bool:
    """True when a daemon answers on the status socket; one that listens but does not answer
    stops the command (exit 1): it still owns the buses, and opening a line it drives would
    garble both processes' frames."""
    from edge_controller.api.client import DaemonNotAnswering, DaemonNotRunning, fetch_json
    from edge_controller.api.server import STATUS_SOCKET

    try:
        await fetch_json(settings.storage.state_dir / STATUS_SOCKET, "/status", 5.0)
    except DaemonNotAnswering as exc:
        print(
            f"edge-controller: a daemon listens but does not answer ({exc}); it still owns "
            "the buses: try again, or stop it first (systemctl stop edge-controller)",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_FAILURE) from exc
    except DaemonNotRunning:
        return False
    return True


def _scan_through_daemon(
    args: argparse.Namespace, settings: Settings, bus: Any, units: list[int]
) -> int:
    """The daemon owns the bus: scan through its queue, at the bus's own line setting."""
    from edge_controller.api.client import post_json
    from edge_controller.api.server import STATUS_SOCKET
    from edge_controller.app import scan

    line = scan.configured_line(bus)
    print(
        f"edge-controller scan: the daemon owns bus {args.bus}; scanning through it at "
        f"{line.label()} (no --baud auto, no progress)",
        file=sys.stderr,
    )
    body = {"bus": args.bus, "units": args.units or scan.default_units(bus),
            "timeout_s": args.timeout_s}  # fmt: skip
    wait_s = len(units) * (2 * args.timeout_s + 0.5) + 30
    socket_path = settings.storage.state_dir / STATUS_SOCKET
    try:
        data = asyncio.run(post_json(socket_path, "/scan", body, wait_s))
    except ValueError as exc:  # refused by the daemon: another scan or selftest runs
        print(f"edge-controller scan: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    plan = scan.ScanPlan(args.bus, bus, [line], units, args.timeout_s)
    print(scan.render_text(scan.result_from_json(plan, data)))
    return EXIT_OK


def cmd_scan(args: argparse.Namespace) -> int:
    from edge_controller.app import scan
    from edge_controller.drivers.modbus.scan import parse_units

    settings = _load(args.config)
    bus = settings.buses.get(args.bus)
    if bus is None:
        known = ", ".join(settings.buses) or "none"
        raise UsageError(f"scan: no bus {args.bus!r} in {args.config} (buses: {known})")
    if args.baud != "auto" and not args.baud.isdigit():
        raise UsageError(f"scan: --baud must be auto or a number, not {args.baud!r}")
    try:
        units = parse_units(args.units or scan.default_units(bus))
    except ValueError as exc:
        raise UsageError(f"scan: {exc}") from exc
    if asyncio.run(_daemon_running(settings)):
        return _scan_through_daemon(args, settings, bus, units)
    log.configure("error", "auto", sys.stderr)
    lines = scan.plan_lines(bus, args.baud)
    plan = scan.ScanPlan(args.bus, bus, lines, units, args.timeout_s, args.record)
    progress = None if args.quiet else scan.progress_bar(len(units) * len(lines))
    try:
        result = asyncio.run(scan.run_scan(plan, progress))
    except scan.ScanFailed as exc:
        print(f"edge-controller scan: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(scan.to_json(result), indent=2))
    else:
        print(scan.render_text(result))
    return EXIT_OK


def _requeue(args: argparse.Namespace, settings: Settings) -> int:
    """Through the running daemon (its sender wakes), or into the database when stopped."""
    from edge_controller.api.client import post_json
    from edge_controller.api.server import STATUS_SOCKET
    from edge_controller.app import outbox_admin

    seq = None if args.requeue_all else args.requeue
    if asyncio.run(_daemon_running(settings)):
        body = {"all": True} if seq is None else {"seq": seq}
        socket_path = settings.storage.state_dir / STATUS_SOCKET
        try:
            found = asyncio.run(post_json(socket_path, outbox_admin.REQUEUE_PATH, body, 10.0))
        except ValueError as exc:
            print(f"edge-controller outbox: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        seqs = [int(s) for s in found["requeued"]]
    else:
        if not settings.database_path.exists():
            raise UsageError(f"outbox: no database at {settings.database_path}")
        try:
            seqs = asyncio.run(outbox_admin.requeue_offline(settings.database_path, seq))
        except ValueError as exc:
            print(f"edge-controller outbox: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    print(f"requeued {len(seqs)} message(s)" + (f": {' '.join(map(str, seqs))}" if seqs else ""))
    return EXIT_OK


def cmd_outbox(args: argparse.Namespace) -> int:
    from edge_controller.app import outbox_admin
    from edge_controller.storage import history
    from edge_controller.storage.outbox.capacity import count_parked, count_pending

    settings = _load(args.config)
    log.configure("error", "auto", sys.stderr)  # stdout is the listing's
    if args.requeue is not None or args.requeue_all:
        return _requeue(args, settings)
    with history.reading(settings.database_path) as conn:
        if args.parked:
            outbox_admin.write_parked(history.parked_messages(conn), sys.stdout)
        else:
            print(f"pending {count_pending(conn)}  parked {count_parked(conn)}")
    return EXIT_OK


def _outbox_parser(sub: Any) -> None:
    outbox = sub.add_parser("outbox", help="the messages waiting for the CSMS; parked ones")
    outbox.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site config YAML")
    outbox.add_argument("--parked", action="store_true", help="list the parked messages")
    again = outbox.add_mutually_exclusive_group()
    again.add_argument("--requeue", type=int, metavar="SEQ", help="put one back in line")
    again.add_argument("--requeue-all", action="store_true", help="put all back in line")
    outbox.set_defaults(handler=cmd_outbox)


def _operator_parsers(sub: Any) -> None:
    _sessions_parser(sub)
    _outbox_parser(sub)
    _qr_parser(sub)


def _day(text: str) -> Any:
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def cmd_sessions(args: argparse.Namespace) -> int:
    from edge_controller.app import sessions_report as report

    settings = _load(args.config)
    log.configure("error", "auto", sys.stderr)  # stdout is the report's
    if args.method is not None and args.method not in report.METHODS:
        raise UsageError(f"--method: one of {', '.join(report.METHODS)}")
    query = report.Query(
        settings.database_path, settings.site.id, settings.site.zone,
        args.from_date, args.to_date, args.show_tokens,
        connector_id=args.connector, method=args.method, status=args.status,
    )  # fmt: skip
    out = sys.stdout if args.out is None else args.out.open("w", encoding="utf-8")
    try:
        if args.action in ("show", "receipt"):
            if args.session_id is None:
                raise UsageError(f"sessions {args.action}: give the session id")
            try:
                if args.action == "show":
                    report.write_show(query, args.session_id, out)
                else:
                    report.write_receipt(query, args.session_id, args.html, out)
            except report.NoSuchSession as exc:
                print(f"edge-controller sessions: {exc}", file=sys.stderr)
                return EXIT_FAILURE
        elif args.summary:
            report.write_summary(query, args.by, args.format, out)
            # csv and json stay one table for programs: the lines go to stderr there
            aside = out if args.format == "table" else sys.stderr
            for line in report.unknown_payment_lines(query):
                print(line, file=aside)
        else:
            report.list_sessions(query, args.format, out)
    finally:
        if out is not sys.stdout:
            out.close()
    return EXIT_OK


def _sessions_parser(sub: Any) -> None:
    sessions = sub.add_parser("sessions", help="list and export sessions with cost; receipts")
    sessions.add_argument(
        "action", nargs="?", default="list", choices=("list", "show", "receipt"),
        help="list (default), show ID (text), receipt ID (JSON, or --html)",
    )  # fmt: skip
    sessions.add_argument("session_id", nargs="?", type=int, help="for show and receipt")
    sessions.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site config YAML")
    sessions.add_argument("--from", dest="from_date", type=_day, help="first day (site time)")
    sessions.add_argument("--to", dest="to_date", type=_day, help="last day, included")
    sessions.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sessions.add_argument("--summary", action="store_true", help="revenue instead of sessions")
    sessions.add_argument("--connector", help="only this connector's sessions")
    sessions.add_argument("--method", help="only sessions paid this way (card_terminal, csms...)")
    sessions.add_argument("--status", choices=("running", "finished"), help="only these")
    sessions.add_argument(
        "--by", choices=("day", "month", "connector", "tariff", "method"), default="day"
    )
    sessions.add_argument("--show-tokens", action="store_true", help="id tags unmasked")
    sessions.add_argument("--html", action="store_true", help="receipt as a self-contained page")
    sessions.add_argument("--out", type=Path, default=None, help="write to FILE, not stdout")
    sessions.set_defaults(handler=cmd_sessions)


def cmd_web_password(args: argparse.Namespace) -> int:
    """Read a password (twice on a terminal) and write its hash for web.accounts.*."""
    import getpass

    from edge_controller.web.passwords import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise UsageError("a console password needs at least 8 characters")
    hashed = hash_password(password) + "\n"
    if args.output is None:
        sys.stdout.write(hashed)
    else:
        args.output.touch(mode=0o600)
        args.output.write_text(hashed, encoding="utf-8")
    return EXIT_OK


def _selftest_through_daemon(settings: Settings) -> Any:
    """The daemon owns the buses: it runs the read-only items and answers the report."""
    from edge_controller.api.client import post_json
    from edge_controller.api.server import STATUS_SOCKET
    from edge_controller.app import selftest

    print(
        "edge-controller selftest: the daemon is running; the read-only items run through it, "
        "the items that write are skipped (they need the daemon stopped)",
        file=sys.stderr,
    )
    devices = len(settings.chargers) + len(settings.meters)
    wait_s = 30.0 + 3.0 * devices  # each device read is bounded by its bus timeout and retries
    socket_path = settings.storage.state_dir / STATUS_SOCKET
    try:
        data = asyncio.run(post_json(socket_path, "/selftest", {}, wait_s))
    except ValueError as exc:
        print(f"edge-controller selftest: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_FAILURE) from exc
    return selftest.report_from_json(data)


def cmd_qr(args: argparse.Namespace) -> int:
    """The payment QR stickers of every connector, as a printable sheet."""
    from edge_controller.app.qr import qr_codes
    from edge_controller.web import qr_sheet

    settings = _load(args.config)
    connectors = [f"{cid}:{n}" for cid, c in settings.chargers.items()
                  for n in range(1, c.connectors + 1)]  # fmt: skip
    codes = qr_codes(settings, connectors)
    stickers = []
    for cid in connectors:
        code = codes.code(cid, (), {})
        if code is None:
            raise UsageError("qr: no payments.web.url_template in the config to make codes from")
        stickers.append(qr_sheet.Sticker(cid, code.url))
    kind = args.out.suffix.lower()
    if kind == ".svg":
        args.out.write_text(qr_sheet.svg_sheet(stickers), encoding="utf-8")
    elif kind == ".pdf":
        args.out.write_bytes(qr_sheet.pdf_sheet(stickers))
    elif kind == ".png":
        args.out.write_bytes(qr_sheet.png_sheet(stickers))
    else:
        raise UsageError(f"qr: --out must end in .pdf, .svg or .png, not {args.out.name!r}")
    for sticker in stickers:
        print(f"{sticker.connector_id}\t{sticker.url}")
    return EXIT_OK


def _qr_parser(sub: Any) -> None:
    qr = sub.add_parser("qr", help="print the connectors' payment QR stickers (PDF, SVG or PNG)")
    qr.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site config YAML")
    qr.add_argument("--out", type=Path, required=True, help="FILE.pdf, FILE.svg or FILE.png")
    qr.set_defaults(handler=cmd_qr)


def cmd_selftest(args: argparse.Namespace) -> int:
    from edge_controller.app import selftest

    settings = _load(args.config)
    log.configure("error", "auto", sys.stderr)
    if asyncio.run(_daemon_running(settings)):
        report = _selftest_through_daemon(settings)
    else:
        tap_timeout_s = args.tap_timeout_s if args.tap_card else None
        options = selftest.Options(settle_s=args.settle_s, tap_timeout_s=tap_timeout_s)
        report = asyncio.run(selftest.run_selftest(settings, options))
    if args.report is not None:
        args.report.write_text(selftest.render_html(report), encoding="utf-8")
        data = json.dumps(selftest.to_json(report), indent=2)
        args.report.with_suffix(".json").write_text(data + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(selftest.to_json(report), indent=2))
    else:
        print(selftest.render_text(report))
    return EXIT_OK if report.ok else EXIT_FAILURE


def cmd_demo_day(args: argparse.Namespace) -> int:
    from edge_controller.app.sessions_report import revenue_line
    from edge_controller.sim import demo_day

    def revenue_of(settings: Settings) -> demo_day.RevenueSource:
        site = settings.site
        return lambda: revenue_line(settings.database_path, site.id, site.zone)

    argv = ["--config", str(args.config), "--seconds-per-hour", str(args.seconds_per_hour)]
    argv += ["--days", str(args.days), "--csms-log", str(args.csms_log)]
    return demo_day.main(argv, revenue_of, prog="edge-controller demo-day")


def _add_demo_day(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    day = sub.add_parser("demo-day", help="play the demo site's day against it (make run does)")
    day.add_argument("--config", type=Path, required=True, help="site config YAML")
    day.add_argument("--seconds-per-hour", type=float, default=8.0)
    day.add_argument("--days", type=int, default=0, help="0: repeat until stopped")
    day.add_argument("--csms-log", type=Path, default=Path("csms-messages.jsonl"))
    day.set_defaults(handler=cmd_demo_day)


def _add_simulate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = sub.add_parser("simulate", help="serve every simulated device of a site config")
    simulate.add_argument("--config", type=Path, help="site config YAML")
    simulate.add_argument(
        "--generate",
        type=Path,
        metavar="DESCRIPTION",
        help="write the site config a compact description makes (to --out) and exit",
    )
    simulate.add_argument("--out", type=Path, help="where --generate writes the site config")
    simulate.add_argument("--allow-remote", action="store_true", help=ALLOW_REMOTE_HELP)
    simulate.set_defaults(handler=cmd_simulate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-controller", description=__doc__)
    parser.add_argument("--version", action="version", version=f"edge-controller {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", type=Path, required=True, help="site config YAML")
    run.set_defaults(handler=cmd_run)
    check = sub.add_parser(
        "check-config",
        help="validate a site config and print a summary; given a parent gateway's config and "
        "its children's, check them against each other too",
    )
    check.add_argument("file", type=Path, nargs="+")
    check.set_defaults(handler=cmd_check_config)
    _add_simulate(sub)
    _add_demo_day(sub)
    csms = sub.add_parser("csms", help="run a local bench CSMS for commissioning and the demo")
    csms.add_argument("--host", default="127.0.0.1")
    csms.add_argument("--port", type=int, default=9000)
    csms.add_argument("--log", type=Path, default=None, help="append every message as JSON lines")
    csms.add_argument("--allow-remote", action="store_true", help=ALLOW_REMOTE_HELP)
    csms.add_argument(
        "--versions",
        default="1.6,2.0.1,2.1",
        help="OCPP versions served, comma-separated (a charge point's first choice among them)",
    )
    csms.set_defaults(handler=cmd_csms)
    backup = sub.add_parser("backup", help="copy the database while the daemon runs")
    backup.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site config YAML")
    backup.add_argument("dest", type=Path, help="file or directory to write the copy to")
    backup.set_defaults(handler=cmd_backup)
    scan = sub.add_parser("scan", help="find and identify the devices on a bus (reads only)")
    scan.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site config YAML")
    scan.add_argument("--bus", required=True, help="bus id from the config")
    scan.add_argument("--baud", default="auto", help="auto (every setting the profiles use) or N")
    scan.add_argument("--units", default=None, help="unit ids, e.g. 1-247 or 1,3,10-12")
    scan.add_argument("--timeout-s", type=float, default=0.3, help="answer timeout per probe")
    scan.add_argument("--json", action="store_true", help="print JSON for tools")
    scan.add_argument("--record", type=Path, default=None, help="append a trace of the traffic")
    scan.add_argument("--quiet", action="store_true", help="no progress on stderr")
    scan.set_defaults(handler=cmd_scan)
    selftest = sub.add_parser("selftest", help="prove the site's devices and links (report)")
    selftest.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site config YAML")
    selftest.add_argument("--report", type=Path, default=None, help="write FILE.html and .json")
    selftest.add_argument("--json", action="store_true", help="print JSON instead of a table")
    selftest.add_argument(
        "--settle-s", type=float, default=8.0, help="wait for an EV to follow a pause"
    )
    selftest.add_argument(
        "--tap-card", action="store_true", help="wait for a test card on each reader"
    )
    selftest.add_argument(
        "--tap-timeout-s", type=float, default=30.0, help="how long to wait for each card"
    )
    selftest.set_defaults(handler=cmd_selftest)
    status = sub.add_parser("status", help="show the live state of a running daemon")
    status.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site config YAML")
    status.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument("--interval-s", type=float, default=1.0, help="refresh period with --watch")
    status.set_defaults(handler=cmd_status)
    _operator_parsers(sub)
    password = sub.add_parser(
        "web-password", help="hash a console password (stdin) for web.accounts.*.password_hash_file"
    )
    password.add_argument("--output", type=Path, default=None, help="file to write (mode 0600)")
    password.set_defaults(handler=cmd_web_password)
    return parser


def _storage_failure(exc: StorageError) -> int:
    """One line naming the cause, and the exit code that tells systemd whether to retry."""
    code = EXIT_FAILURE
    if isinstance(exc, StateDirUnusable):
        code = EXIT_INSTALL
    elif isinstance(exc, NeedsOperator):
        code = EXIT_DATA
    log.get_logger("cli").critical("storage unusable", error=str(exc), exit_code=code)
    print(f"edge-controller: {exc}", file=sys.stderr)
    return code


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
    except StorageError as exc:
        return _storage_failure(exc)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `edge-controller status | head`: the reader left, nothing to say
        sys.stderr.close()
        return EXIT_OK
    except Exception:
        log.get_logger("cli").exception("fatal error")
        return EXIT_FAILURE
