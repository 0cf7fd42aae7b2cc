"""A large simulated site from a compact description: the config the daemon runs unchanged.

The description is a site config without ``buses``, ``chargers`` and ``meters`` and with a
``generate`` block instead (see ``config/scale-100.gen.yaml``)::

    generate:
      host: 127.0.0.1        # every Modbus TCP server of the site (loopback for the simulator)
      first_port: 21000      # buses take consecutive ports from here
      charx: {controllers: 12, connectors: 8}   # per_gateway: 1, each on its own address
      keba: 4                # one KEBA P30 per address (its unit id is fixed at 255)
      feeders: [{count: 2, limit_a: 250}, {count: 2, limit_a: 125}]
      feeder_meters: true
      arrivals: {every_s: 1, profiles: [compact, van], first_s: 5}

A CHARX controller is an Ethernet device: each has an address of its own on a real site, and
so it does here unless ``per_gateway`` puts several behind one Modbus TCP address (unit ids 1..n,
as behind a serial gateway). One TCP connection answers one request at a time, and 32
controllers' 512 reads a second behind one address were more than it carries at a 1 s poll.

``feeders`` is the tree, level by level: ``count`` feeders under each feeder of the level above
(under the grid for the first level). Chargers are dealt round-robin over the leaves. The grid
meter (and each feeder's meter) is an Eastron SDM630 on a bus of its own. ``arrivals`` writes an
``ev_script`` that plugs an EV into every connector, one every ``every_s`` seconds.

Everything here is pure: a mapping in, a mapping out.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

CHARX_PROFILE = "phoenix_charx_sec3xxx"
KEBA_PROFILE = "keba_kecontact_p30"
METER_PROFILE = "eastron_sdm630"
MAX_TCP_UNITS = 247  # Modbus unit ids 1..247 on one gateway
KEBA_UNIT_ID = 255
IEC_MIN_CURRENT_A = 6.0  # the least a connector at its failsafe or fallback current offers
GENERATED = ("buses", "chargers", "meters")
# The keys each block of a description takes: a misspelt one would otherwise leave its block
# at its defaults and make a different site without a word.
GENERATE_KEYS = ("host", "first_port", "charx", "keba", "feeders", "feeder_meters", "arrivals")
CHARX_KEYS = ("controllers", "connectors", "per_gateway")
FEEDER_KEYS = ("count", "limit_a")
ARRIVAL_KEYS = ("every_s", "first_s", "profiles")


class GenerateError(ValueError):
    """The description cannot make a site; the message names the key."""


@dataclass(frozen=True)
class _Ports:
    host: str
    first: int

    def bus(self, index: int) -> dict[str, Any]:
        return {"type": "tcp", "host": self.host, "port": self.first + index, "timeout_s": 1.0}


def _block(value: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """``value`` as a mapping of known keys (nothing given: an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GenerateError(f"{where}: must be a mapping of {', '.join(keys)}")
    for key in value:
        if key not in keys:
            raise GenerateError(f"{where}.{key}: unknown key (known: {', '.join(keys)})")
    return value


def _int(
    block: dict[str, Any], key: str, where: str, bounds: tuple[int, int], default: int = 0
) -> int:
    low, high = bounds
    value = block.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise GenerateError(f"{where}.{key}: must be a whole number from {low} to {high}")
    return value


def _feeder_leaves(levels: Any) -> tuple[dict[str, Any], list[str]]:
    """The feeders section and the leaf feeder ids (chargers hang on these)."""
    if levels is None:
        levels = []
    if not isinstance(levels, list):
        raise GenerateError("generate.feeders: must be a list of levels ({count, limit_a})")
    feeders: dict[str, Any] = {}
    parents: list[str | None] = [None]
    for depth, given in enumerate(levels, start=1):
        where = f"generate.feeders[{depth - 1}]"
        level = _block(given, where, FEEDER_KEYS)
        count = _int(level, "count", where, (1, 1000))
        limit_a = level.get("limit_a")
        if not isinstance(limit_a, int | float) or limit_a <= 0:
            raise GenerateError(f"{where}.limit_a: must be a positive number of amperes")
        children: list[str | None] = []
        for parent in parents:
            for n in range(1, count + 1):
                fid = f"f{depth}_{n}" if parent is None else f"{parent}_{n}"
                feeders[fid] = {"limit_a": limit_a} | ({"parent": parent} if parent else {})
                children.append(fid)
        parents = children
    return feeders, [p for p in parents if p is not None]


def _chargers(gen: dict[str, Any], ports: _Ports) -> tuple[dict[str, Any], dict[str, Any]]:
    """Buses and chargers: CHARX controllers (``per_gateway`` to an address), then one bus per
    KEBA."""
    charx = _block(gen.get("charx"), "generate.charx", CHARX_KEYS)
    controllers = _int(charx, "controllers", "generate.charx", (0, 10000))
    connectors = _int(charx, "connectors", "generate.charx", (1, 8), default=8)
    per_gateway = _int(charx, "per_gateway", "generate.charx", (1, MAX_TCP_UNITS), default=1)
    kebas = _int(gen, "keba", "generate", (0, 10000))
    buses: dict[str, Any] = {}
    chargers: dict[str, Any] = {}
    bus_index = itertools.count(1)  # port first + 0 is the meters' bus
    for n in range(controllers):
        gateway = f"gw{n // per_gateway + 1}"
        if gateway not in buses:
            buses[gateway] = ports.bus(next(bus_index))
        chargers[f"charx{n + 1}"] = {
            "bus": gateway,
            "unit_id": n % per_gateway + 1,
            "profile": CHARX_PROFILE,
            "connectors": connectors,
        }
    for n in range(kebas):
        bus = f"keba{n + 1}"
        buses[bus] = ports.bus(next(bus_index))
        chargers[bus] = {"bus": bus, "unit_id": KEBA_UNIT_ID, "profile": KEBA_PROFILE}
    return buses, chargers


def _meters(feeders: dict[str, Any], with_feeder_meters: bool) -> dict[str, Any]:
    meters: dict[str, Any] = {
        "grid": {"bus": "meters", "unit_id": 1, "profile": METER_PROFILE, "role": "grid"}
    }
    if with_feeder_meters:
        for unit_id, fid in enumerate(feeders, start=2):
            if unit_id > MAX_TCP_UNITS:
                raise GenerateError("generate.feeder_meters: more than 246 feeders to meter")
            meters[f"m_{fid}"] = {
                "bus": "meters",
                "unit_id": unit_id,
                "profile": METER_PROFILE,
                "role": "feeder",
                "feeder": fid,
            }
    return meters


def _arrivals(gen: dict[str, Any], connector_ids: list[str]) -> list[dict[str, Any]]:
    block = _block(gen.get("arrivals"), "generate.arrivals", ARRIVAL_KEYS)
    if not block:
        return []
    every_s = block.get("every_s", 1.0)
    first_s = block.get("first_s", 0.0)
    profiles = block.get("profiles") or []
    if not isinstance(every_s, int | float) or every_s < 0:
        raise GenerateError("generate.arrivals.every_s: must be a number of seconds >= 0")
    if not isinstance(first_s, int | float) or first_s < 0:
        raise GenerateError("generate.arrivals.first_s: must be a number of seconds >= 0")
    if not profiles or not all(isinstance(p, str) for p in profiles):
        raise GenerateError("generate.arrivals.profiles: a list of simulation.ev_profiles keys")
    return [
        {
            "connector": cid,
            "profile": profiles[i % len(profiles)],
            "arrive_s": first_s + i * every_s,
        }
        for i, cid in enumerate(connector_ids)
    ]


def _fit_failsafe(site: dict[str, Any], feeders: dict[str, Any], chargers: dict[str, Any]) -> None:
    """0 A as every charger's failsafe current, and as the site's fallback unless the description
    gives one, when the site's connectors at the IEC minimum would overload the grid or a feeder:
    a large site on a small connection must pause its EVs when its controller stops or its grid
    meter is lost, and a generated config copied to a real site must not say otherwise."""
    below: dict[str | None, int] = {}  # connectors under each feeder (None: the grid)
    for charger in chargers.values():
        node: str | None = charger.get("feeder")
        while True:
            below[node] = below.get(node, 0) + charger.get("connectors", 1)
            if node is None:
                break
            node = feeders[node].get("parent")
    limits_a: dict[str | None, Any] = {fid: f["limit_a"] for fid, f in feeders.items()}
    limits_a[None] = site.get("grid_limit_a")
    if all(
        not isinstance(limit_a, int | float) or count * IEC_MIN_CURRENT_A <= limit_a
        for node, count in below.items()
        for limit_a in (limits_a[node],)
    ):
        return
    for charger in chargers.values():
        charger["failsafe_current_a"] = 0.0
    site.setdefault("fallback_current_a", 0.0)


def connector_ids(chargers: dict[str, Any]) -> list[str]:
    return [
        f"{cid}:{n}" for cid, c in chargers.items() for n in range(1, c.get("connectors", 1) + 1)
    ]


def generate_site(description: dict[str, Any]) -> dict[str, Any]:
    """The full site config described by ``description`` (which is left as it was)."""
    gen = description.get("generate")
    if not isinstance(gen, dict):
        raise GenerateError("generate: missing (the block that describes the site to make)")
    _block(gen, "generate", GENERATE_KEYS)
    for key in GENERATED:
        if key in description:
            raise GenerateError(f"{key}: made by generate; leave it out of the description")
    config = {k: copy.deepcopy(v) for k, v in description.items() if k != "generate"}
    first_port = _int(gen, "first_port", "generate", (1, 65535), default=21000)
    ports = _Ports(str(gen.get("host", "127.0.0.1")), first_port)
    buses, chargers = _chargers(gen, ports)
    if not chargers:
        raise GenerateError("generate: no chargers (give charx.controllers or keba)")
    if first_port + len(buses) > 65535:
        raise GenerateError("generate.first_port: the site's buses run past port 65535")
    feeders, leaves = _feeder_leaves(gen.get("feeders"))
    for i, charger in enumerate(chargers.values()):
        charger["simulated"] = True
        if leaves:
            charger["feeder"] = leaves[i % len(leaves)]
    meters = _meters(feeders, bool(gen.get("feeder_meters", False)))
    for meter in meters.values():
        meter["simulated"] = True
    site = config.setdefault("site", {})
    if feeders:
        site["feeders"] = site.get("feeders", {}) | feeders
    config["buses"] = {"meters": ports.bus(0)} | buses
    config["chargers"] = chargers
    config["meters"] = meters
    _fit_failsafe(site, feeders, chargers)
    script = _arrivals(gen, connector_ids(chargers))
    if script:
        config.setdefault("simulation", {})["ev_script"] = script
    return config
