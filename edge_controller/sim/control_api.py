"""The simulator's control interface: HTTP/JSON on loopback (endpoints in sim/README.md).

Every handler validates its input and answers 400 with ``{"error": ...}`` on a bad request and
404 for an unknown device or connector; nothing a client sends can stop the simulator.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from edge_controller.config.settings import SimEvProfileSettings
from edge_controller.sim.registers import TABLE_OF_FUNCTION
from edge_controller.sim.rfid import ReaderBusy, ReaderUnavailable, VirtualReaders
from edge_controller.sim.sim_site import SimConflict, SimError, SimSite
from edge_controller.sim.site_build import base_current, ev_profile
from edge_controller.sim.zvt_terminal import Behaviour, SimulatedZvtTerminal

Handler = Callable[[web.Request], Awaitable[web.Response]]
SITE = web.AppKey("site", SimSite)
Clock = Callable[[], float]
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("clock")
PROFILES = web.AppKey("ev_profiles", dict[str, SimEvProfileSettings])
READERS = web.AppKey("readers", VirtualReaders)
TERMINALS = web.AppKey("terminals", dict[str, SimulatedZvtTerminal])
_READ_FUNCTION = {table: fc for fc, table in TABLE_OF_FUNCTION.items() if fc in (1, 2, 3, 4)}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _guarded(handler: Handler) -> Handler:
    """Turn bad input into 400/404 answers instead of tracebacks."""

    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except SimConflict as exc:
            return _error(409, str(exc))
        except SimError as exc:
            return _error(404, str(exc))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            return _error(400, str(exc))

    return wrapper


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _now(request: web.Request) -> float:
    clock: Clock = request.app[CLOCK_KEY]
    return float(clock())


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[SITE].snapshot(_now(request)))


async def plug(request: web.Request) -> web.Response:
    body = await _body(request)
    name = body.pop("profile", None)
    base: dict[str, Any] = {}
    if name is not None:
        named = request.app[PROFILES].get(str(name))
        if named is None:
            raise ValueError(f"unknown EV profile {name!r}")
        base = named.model_dump()
    profile = ev_profile(SimEvProfileSettings.model_validate({**base, **body}))
    connector = request.match_info["connector"]
    request.app[SITE].plug(_now(request), connector, profile)
    return web.json_response({"connector": connector, "plugged": True})


async def unplug(request: web.Request) -> web.Response:
    body = await _body(request)
    connector = request.match_info["connector"]
    request.app[SITE].unplug(_now(request), connector, immediate=bool(body.get("immediate")))
    return web.json_response({"connector": connector, "plugged": False})


async def pause_ev(request: web.Request) -> web.Response:
    """The plugged EV stops drawing on its own: ``{"state": "B"}`` (S2 open, the default) or
    ``"C"`` (it keeps asking and draws nothing); 409 without an EV, or one leaving or paused."""
    body = await _body(request)
    if set(body) - {"state"}:
        raise ValueError(f"unknown pause options {sorted(set(body) - {'state'})}")
    state = body.get("state", "B")
    if state not in ("B", "C"):
        raise ValueError('state must be "B" (the EV opens S2) or "C" (it keeps asking)')
    connector = request.match_info["connector"]
    request.app[SITE].pause(connector, keep_state_c=state == "C")
    return web.json_response({"connector": connector, "paused": state})


async def resume_ev(request: web.Request) -> web.Response:
    """The paused EV asks again and follows the offer after its response delay; 409 when it
    is not paused (or there is none)."""
    connector = request.match_info["connector"]
    request.app[SITE].resume(connector)
    return web.json_response({"connector": connector, "paused": None})


async def set_base_load(request: web.Request) -> web.Response:
    body = await _body(request)
    values = body.get("current_a")
    if not isinstance(values, list):
        raise ValueError("current_a must be a list [L1, L2, L3] in A")
    request.app[SITE].set_base_load(base_current(values))
    return web.json_response({"current_a": values})


async def clear_base_load(request: web.Request) -> web.Response:
    request.app[SITE].set_base_load(None)
    return web.json_response({"current_a": None})


async def inject_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    device = request.app[SITE].device(request.match_info["device"])
    kind = str(body.pop("kind", ""))
    allowed = {"duration_s", "delay_s", "code", "point", "error_code", "value"}
    if set(body) - allowed:
        raise ValueError(f"unknown fault options {sorted(set(body) - allowed)}")
    device.inject(kind, _now(request), **body)
    return web.json_response({"device": device.device_id, "fault": kind})


async def clear_faults(request: web.Request) -> web.Response:
    device = request.app[SITE].device(request.match_info["device"])
    device.clear_faults(request.query.get("kind"))
    return web.json_response({"device": device.device_id, "cleared": request.query.get("kind")})


async def get_device(request: web.Request) -> web.Response:
    site = request.app[SITE]
    return web.json_response(site.device_view(request.match_info["device"], _now(request)))


async def get_meter(request: web.Request) -> web.Response:
    return web.json_response(request.app[SITE].meter_view(request.match_info["meter"]))


async def get_registers(request: web.Request) -> web.Response:
    device = request.app[SITE].device(request.match_info["device"])
    table = request.query.get("table", "holding")
    if table not in _READ_FUNCTION:
        raise ValueError(f"table must be one of {sorted(_READ_FUNCTION)}")
    address, count = int(request.query["address"]), int(request.query.get("count", "1"))
    words = device.read(_READ_FUNCTION[table], address, count, _now(request))
    if isinstance(words, int):
        return _error(400, f"the device answers exception {words} for this read")
    return web.json_response({"table": table, "address": address, "words": words})


async def tap_card(request: web.Request) -> web.Response:
    """Hold a card on a simulated reader; answers once the card is lifted again."""
    body = await _body(request)
    readers = request.app[READERS]
    reader_id = request.match_info["reader"]
    if reader_id not in readers.slots:
        raise SimError(f"no simulated reader {reader_id!r} (known: {sorted(readers.slots)})")
    uid = body.get("uid")
    if not isinstance(uid, str):
        raise ValueError('uid must be a hex string, e.g. "04A1B2C3"')
    try:
        result = await readers.tap(reader_id, uid, float(body.get("hold_s", 1.0)))
    except ReaderBusy as exc:
        return _error(409, str(exc))
    except ReaderUnavailable as exc:
        return _error(503, str(exc))
    return web.json_response(result.as_dict())


async def get_terminal(request: web.Request) -> web.Response:
    """A simulated card terminal: its behaviour and its ledger (what it booked)."""
    terminal = _terminal(request)
    ledger = terminal.ledger
    reservations = [
        {"receipt_no": r.receipt_no, "amount_minor": r.amount_minor,
         "captured_minor": r.captured_minor, "reversed": r.reversed}
        for r in ledger.reservations.values()
    ]  # fmt: skip
    return web.json_response(
        {
            "terminal": request.match_info["terminal"],
            "behaviour": terminal.behaviour.value,
            "card_limit_minor": terminal.card_limit_minor,
            "reservations": reservations,
            "captures": [list(c) for c in ledger.captures],
            "reversals": list(ledger.reversals),
            "wait_for_card": terminal.wait_for_card,
            "waiting_for_card": terminal.waiting_for_card,
            "aborts_by_ecr": ledger.aborts_by_ecr,
            "aborts_refused": ledger.aborts_refused,
        }
    )


async def set_terminal_card_wait(request: web.Request) -> web.Response:
    """Whether a pre-authorisation waits for a card presented through ``/card``
    (``wait_for_card``), and how long the authorisation of a read card takes (``authorising_s``,
    0 to 30; an abort meanwhile is refused)."""
    body = await _body(request)
    terminal = _terminal(request)
    wait, authorising_s = body.get("wait_for_card"), body.get("authorising_s", 0.0)
    if not isinstance(wait, bool):
        raise ValueError("wait_for_card must be true or false")
    if isinstance(authorising_s, bool) or not isinstance(authorising_s, int | float):
        raise ValueError("authorising_s must be a number of seconds")
    if not 0 <= authorising_s <= 30:
        raise ValueError("authorising_s must be from 0 to 30")
    terminal.wait_for_card, terminal.authorising_s = wait, float(authorising_s)
    return web.json_response({"terminal": request.match_info["terminal"], "wait_for_card": wait,
                              "authorising_s": terminal.authorising_s})  # fmt: skip


async def present_card(request: web.Request) -> web.Response:
    """The card holder presents a card to the terminal; 409 when it waits for none."""
    if not _terminal(request).present_card():
        return _error(409, "the terminal waits for no card (not armed)")
    return web.json_response({"terminal": request.match_info["terminal"], "presented": True})


async def set_terminal_behaviour(request: web.Request) -> web.Response:
    """How the terminal answers from now on: a card approved, declined, a silent terminal..."""
    body = await _body(request)
    terminal = _terminal(request)
    try:
        terminal.behaviour = Behaviour(str(body.get("behaviour")))
    except ValueError:
        known = [b.value for b in Behaviour]
        raise ValueError(f"behaviour must be one of {known}") from None
    return web.json_response({"terminal": request.match_info["terminal"],
                              "behaviour": terminal.behaviour.value})  # fmt: skip


async def set_terminal_card_limit(request: web.Request) -> web.Response:
    """What the presented card allows from now on, in minor units (``card_limit_minor``): a
    reservation above it is declined while the behaviour is ``amount_limit``."""
    body = await _body(request)
    terminal = _terminal(request)
    limit = body.get("card_limit_minor")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError("card_limit_minor must be a whole number of minor units, 0 or more")
    terminal.card_limit_minor = limit
    return web.json_response({"terminal": request.match_info["terminal"],
                              "card_limit_minor": terminal.card_limit_minor})  # fmt: skip


def _terminal(request: web.Request) -> SimulatedZvtTerminal:
    terminals = request.app[TERMINALS]
    name = request.match_info["terminal"]
    if name not in terminals:
        raise SimError(f"no simulated terminal {name!r} (known: {sorted(terminals)})")
    return terminals[name]


def control_app(
    site: SimSite,
    clock: Callable[[], float],
    ev_profiles: dict[str, SimEvProfileSettings],
    readers: VirtualReaders | None = None,
    terminals: dict[str, SimulatedZvtTerminal] | None = None,
) -> web.Application:
    """``readers``: the simulated RFID readers (default: from ``EDGE_CONTROLLER_SIM_READERS``);
    ``terminals``: the simulated card terminals by id."""
    app = web.Application()
    app[SITE], app[CLOCK_KEY], app[PROFILES] = site, clock, ev_profiles
    app[TERMINALS] = terminals if terminals is not None else {}
    app[READERS] = readers if readers is not None else VirtualReaders.from_environ(os.environ)
    routes = [
        web.get("/state", _guarded(get_state)),
        web.post("/connectors/{connector}/plug", _guarded(plug)),
        web.post("/connectors/{connector}/unplug", _guarded(unplug)),
        web.post("/connectors/{connector}/pause", _guarded(pause_ev)),
        web.post("/connectors/{connector}/resume", _guarded(resume_ev)),
        web.put("/base_load", _guarded(set_base_load)),
        web.delete("/base_load", _guarded(clear_base_load)),
        web.get("/meters/{meter}", _guarded(get_meter)),
        web.get("/devices/{device}", _guarded(get_device)),
        web.get("/devices/{device}/registers", _guarded(get_registers)),
        web.post("/devices/{device}/faults", _guarded(inject_fault)),
        web.delete("/devices/{device}/faults", _guarded(clear_faults)),
        web.post("/readers/{reader}/tap", _guarded(tap_card)),
        web.get("/terminals/{terminal}", _guarded(get_terminal)),
        web.put("/terminals/{terminal}/behaviour", _guarded(set_terminal_behaviour)),
        web.put("/terminals/{terminal}/card_limit", _guarded(set_terminal_card_limit)),
        web.put("/terminals/{terminal}/card_wait", _guarded(set_terminal_card_wait)),
        web.post("/terminals/{terminal}/card", _guarded(present_card)),
    ]
    app.add_routes(routes)
    return app
