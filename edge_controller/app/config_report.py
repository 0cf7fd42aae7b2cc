"""What ``edge-controller check-config`` says about a valid config, for the command and for the
operator console (which shows it for the config the daemon runs)."""

from __future__ import annotations

from edge_controller.config import ocpp_blocks as blocks
from edge_controller.config.checks import check_settings
from edge_controller.config.settings import Settings
from edge_controller.config.yaml_reader import ConfigIssue, format_path


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
    for tid, t in settings.payments.terminals.items():
        lines.append(
            f"terminal {tid}: {t.protocol} {t.host}:{t.port} → {', '.join(t.connectors)}, "
            f"pre-authorisation {t.pre_authorisation_amount} {t.currency}, "
            + ("arms itself for the only waiting EV" if t.auto_arm else "armed from the display")
            + (" (simulated)" if t.simulated else "")
        )
    lines.append(
        f"total: {len(settings.chargers)} charger(s), {connectors} connector(s), "
        f"{len(settings.meters)} meter(s), {len(settings.readers)} reader(s)"
    )
    lines.append(
        "ocpp: "
        + (
            f"{settings.ocpp.url} as {settings.ocpp.topology},"
            f" versions offered {', '.join(settings.ocpp.versions)}"
            if settings.ocpp.enabled
            else "disabled"
        )
    )
    if settings.ocpp.enabled:
        lines.extend(_ocpp_version_lines(settings))
    lines.append(
        "mqtt: "
        + (
            f"{settings.mqtt.host}:{settings.mqtt.port} prefix {settings.mqtt_prefix}"
            if settings.mqtt.enabled
            else "disabled"
        )
    )
    return lines


def _ocpp_version_lines(settings: Settings) -> list[str]:
    """The identities that offer other versions than the site's, then the blocks of every
    version in use."""
    by_identity = settings.ocpp_versions()
    lines = [
        f"ocpp identity {identity}: versions offered {', '.join(versions)}"
        for identity, versions in by_identity.items()
        if versions != settings.ocpp.versions
    ]
    in_use = dict.fromkeys(v for versions in by_identity.values() for v in versions)
    return lines + blocks.describe(tuple(in_use) or settings.ocpp.versions)


def site_lines(settings: Settings) -> list[str]:
    """The summary, then each serial bus's timing and its warnings."""
    from edge_controller.drivers.registry import bus_timing_report

    return summary(settings) + bus_timing_report(settings)


def check_lines(settings: Settings) -> list[str]:
    """Below check-config's "OK" line, what it prints for ``settings``: the warnings (without
    the file's line numbers, which the running config no longer has), then ``site_lines``."""
    warnings = [
        f"warning: {ConfigIssue(format_path(path), reason)}"
        for path, reason in check_settings(settings).warnings
    ]
    return warnings + site_lines(settings)
