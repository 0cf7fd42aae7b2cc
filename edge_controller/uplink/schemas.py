"""Schema checks of OCPP payloads with the official JSON schemas the ``ocpp`` package ships.

One ``Schemas`` per version (``schemas_for``), shared by every connection: each schema is read
and its validators built once. A valid payload costs one call of the schema
compiled to Python by ``fastjsonschema`` (``jsonschema`` builds a validator object at every
level of every payload, the largest part of our CPU per message in a backlog). When that check
refuses or cannot decide (it raises), ``jsonschema`` decides, as the official validator, and
names the fault: error texts and CALLERROR answers are its own. The compiled check is built
without formats, as ``jsonschema`` here runs without a format checker. It takes a tuple as a
JSON array where ``jsonschema`` does not; a tuple is written as one on the wire.

Schemas with ``multipleOf`` (three in 1.6: charging profiles and the composite schedule) are
read, and payloads checked, with decimals for ``jsonschema``: 21.4 is a multiple of 0.1, its
float is not. ``fastjsonschema`` gets those schemas read with floats: it then divides the
decimals of the ``repr`` of value and multiple, the same numbers.

Compiling takes 30 ms (a 1.6 MeterValues) to more than a second (a 2.1 RequestStartTransaction),
most of it in ``compile()`` of the generated source, which holds the interpreter's lock
throughout: in a thread it would still hold the site's control loop that long. So the code is
generated and compiled in a child process (``_serve``), and one thread of ours (``_Builder``)
loads the code object it sends back (a millisecond), each check once: a connection asks at its
start for those of the version's routine CALLs (``ROUTINE``), any other on its first use.

``jsonschema`` (with ``referencing``, ``attrs``, ``rpds``: about 2.5 MB resident) is imported
only when it must decide: a compiled check refused or raised, or a check could not be built.
Its validator of a schema is built at that first need. So a CALL whose checks are not built yet
waits for them (``ready``: request and response asked for together, urgently, the event loop
going on meanwhile), at most ``Schemas.wait_s`` (``CHECK_WAIT_S``) for the message, counted
from the first wait for each check; a check the builder could not make, or one still not built
by then, leaves ``jsonschema`` deciding as before. The async path (``problem``) imports it and
builds its validator in a worker thread, off the event loop; the sync checks
(``request_problem``, ``response_problem``: an answer to our CALL, which must not wait once it
is in) do both where they are. The daemon refuses to start without ``jsonschema``
(``official_missing``, which finds it without importing it); one that fails to import later
makes a check a ``Problem`` (an internal error), never an exception.

Only the child imports ``fastjsonschema``: the code it sends back names the library's
exceptions in an import, which is left out and bound to ``Refused`` instead (any exception
means "refused" here), so the daemon runs the checks without the library's compiler.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import decimal
import functools
import importlib.util
import json
import marshal
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from importlib import resources
from typing import IO, Any

from edge_controller.log import get_logger
from edge_controller.uplink.dialect import Dialect, Fault

_FAULTS = {
    "type": Fault.TYPE,
    "maxLength": Fault.TYPE,
    "minLength": Fault.TYPE,
    "format": Fault.TYPE,
    "enum": Fault.PROPERTY,
    "const": Fault.PROPERTY,
    "pattern": Fault.PROPERTY,
    "minimum": Fault.PROPERTY,
    "maximum": Fault.PROPERTY,
    "exclusiveMinimum": Fault.PROPERTY,
    "exclusiveMaximum": Fault.PROPERTY,
    "multipleOf": Fault.PROPERTY,
    "required": Fault.OCCURRENCE,
    "minItems": Fault.OCCURRENCE,
    "maxItems": Fault.OCCURRENCE,
    "additionalProperties": Fault.BAD_PAYLOAD,
}
REQUEST, RESPONSE = "request", "response"
# The longest a message waits for its compiled checks, counted from the first wait for each (they
# are then built next): a 2.1 check compiles in about a second. ``Schemas.wait_s`` by default.
CHECK_WAIT_S = 3.0
# What ``jsonschema`` imports: the daemon does not start without them (``official_missing``).
OFFICIAL = ("jsonschema", "jsonschema_specifications", "referencing", "rpds", "attrs")
# The CALLs a running station sends, by version, the first needed first: their checks (request
# and response) are built as a connection starts, before the first session's messages.
_ROUTINE_2X = ("BootNotification", "StatusNotification", "TransactionEvent", "Authorize",
               "Heartbeat", "MeterValues", "NotifyEvent", "SecurityEventNotification")  # fmt: skip
ROUTINE = {
    "1.6": ("BootNotification", "StatusNotification", "StartTransaction", "MeterValues",
            "StopTransaction", "Authorize", "Heartbeat", "SecurityEventNotification"),
    "2.0.1": _ROUTINE_2X,
    "2.1": _ROUTINE_2X,
}  # fmt: skip
_log = get_logger("uplink.schemas")


@dataclass(frozen=True, slots=True)
class Problem:
    fault: Fault
    description: str


@dataclass(frozen=True, slots=True)
class _Check:
    # Returns: valid for ``jsonschema`` too (raises: ``jsonschema`` decides).
    quick: Callable[[Any], object]


@dataclass(frozen=True, slots=True)
class _Official:
    """``jsonschema``'s validator of one schema, built at its first need."""

    validator: Any
    decimals: bool  # the payload must be read with decimals first


class Schemas:
    """The request and response schemas of one OCPP version."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._folder = resources.files("ocpp") / ("v" + dialect.version.replace(".", ""))
        self._names = self._schema_names()
        # Built checks (written by the builder's thread), the checks asked of the builder (each
        # asked once), until when a CALL waits for each (monotonic), and the validators of
        # ``jsonschema`` built so far.
        self._checks: dict[tuple[str, str], _Check] = {}
        self._asked: dict[tuple[str, str], Future[_Check | None]] = {}
        self._wait_until_s: dict[tuple[str, str], float] = {}
        self._official: dict[tuple[str, str], _Official] = {}
        self.wait_s = CHECK_WAIT_S  # the longest a message waits for its checks

    def _schema_names(self) -> frozenset[str]:
        return frozenset(
            entry.name.removesuffix(".json")
            for entry in (self._folder / "schemas").iterdir()
            if entry.name.endswith(".json")
        )

    def _file_name(self, action: str, side: str) -> str | None:
        """The schema file's name, None when the version has none for ``action``."""
        if action.endswith(("Request", "Response")):
            return None  # a file name, not an action (no action ends so)
        if side == RESPONSE:
            name = f"{action}Response"
        elif self.dialect.version == "1.6":
            name = action  # 1.6 names a request schema after its action
        else:  # later versions add "Request"; a 2.1 SEND (no response) has its action alone
            name = f"{action}Request" if f"{action}Request" in self._names else action
        return name if name in self._names else None

    def build_ahead(self) -> None:
        """Has the checks of the version's routine CALLs built (each once in the process)."""
        for action in ROUTINE.get(self.dialect.version, ()):
            self.ask(action, REQUEST)
            self.ask(action, RESPONSE)

    def ask(self, action: str, side: str) -> Future[_Check | None] | None:
        """The check of ``action``'s ``side`` ("request", "response") as the builder makes
        it, asked for now if it was not; None when the version has no such schema."""
        key = (action, side)
        found = self._asked.get(key)
        if found is None:
            if self._file_name(action, side) is None:
                return None
            found = self._asked[key] = Future()
            _BUILDER.put(lambda: self._build(key), found)
        return found

    def building(self, action: str, side: str) -> Future[_Check | None] | None:
        """The check as the builder makes it if it was asked for, else None."""
        return self._asked.get((action, side))

    def knows(self, action: str) -> bool:
        """Whether the version defines ``action`` (as a request, either way)."""
        return self._file_name(action, REQUEST) is not None

    def settled(self, action: str, *sides: str) -> bool:
        """Whether ``ready`` for these checks would return at once."""
        now_s = time.monotonic()
        return all(self._until_s(action, side, now_s) is None for side in sides)

    def _until_s(self, action: str, side: str, now_s: float) -> float | None:
        """Until when a message waits for this check now, None: it does not."""
        key = (action, side)
        if key in self._checks:
            return None
        building = self._asked.get(key)
        if building is None:
            return None if self._file_name(action, side) is None else now_s + self.wait_s
        if building.done():
            return None
        until_s = self._wait_until_s.get(key, now_s + self.wait_s)
        return until_s if until_s > now_s else None

    async def ready(self, action: str, *sides: str) -> None:
        """Returns once the compiled checks of ``action``'s ``sides`` are built, or cannot be
        (the builder failed, the version has no such schema), or ``wait_s`` after a first wait
        for each (one deadline for a message's checks: ask for them together): at once when
        they are built. They are built next, before the checks asked for ahead. Only this task
        waits meanwhile."""
        now_s = time.monotonic()
        waits: list[tuple[Future[_Check | None], float]] = []
        for side in sides:
            key = (action, side)
            if key in self._checks:
                continue
            building = self.ask(action, side)
            if building is None or building.done():
                continue
            until_s = self._wait_until_s.get(key)
            if until_s is None:  # the first wait: built next
                until_s = self._wait_until_s[key] = now_s + self.wait_s
                _BUILDER.put(functools.partial(self._build, key), building, urgent=True)
            if until_s > now_s:
                waits.append((building, until_s))
        if not waits:
            return
        loop = asyncio.get_running_loop()
        built: asyncio.Future[None] = loop.create_future()
        left = [len(waits)]

        def one_built() -> None:  # in the loop
            left[0] -= 1
            if left[0] == 0 and not built.done():
                built.set_result(None)

        def wake(_: Future[_Check | None]) -> None:  # in the builder's thread
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile: nobody waits
                loop.call_soon_threadsafe(one_built)

        for building, _ in waits:
            building.add_done_callback(wake)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(until for _, until in waits) - now_s):
                await built

    async def problem(self, action: str, side: str, payload: dict[str, Any]) -> Problem | None:
        """As ``request_problem``/``response_problem``, for the event loop: waits for the
        compiled check (``ready``) and, when ``jsonschema`` must decide, has it imported and
        its validator built in a worker thread."""
        key = (action, side)
        await self.ready(action, side)
        if self._takes(key, payload):
            return None
        if key not in self._official and self._file_name(action, side) is not None:
            with contextlib.suppress(ImportError):  # named by ``_refusal``
                await asyncio.to_thread(self._validator, key)
        return self._refusal(key, payload)

    def request_problem(self, action: str, payload: dict[str, Any]) -> Problem | None:
        """None when ``payload`` is a valid request of ``action``."""
        return self._problem((action, REQUEST), payload)

    def response_problem(self, action: str, payload: dict[str, Any]) -> Problem | None:
        """None when ``payload`` is a valid answer to ``action``."""
        return self._problem((action, RESPONSE), payload)

    def _problem(self, key: tuple[str, str], payload: dict[str, Any]) -> Problem | None:
        return None if self._takes(key, payload) else self._refusal(key, payload)

    def _takes(self, key: tuple[str, str], payload: dict[str, Any]) -> bool:
        """Whether the compiled check, if it is built, takes ``payload`` (asked for if it
        was not: only names listed, a peer's action is no path)."""
        check = self._checks.get(key)
        if check is None:
            self.ask(*key)
            check = self._checks.get(key)  # built in between
        if check is None:
            return False
        # Refused, or a value it cannot compare (a Decimal NaN): the official validator decides.
        with contextlib.suppress(Exception):
            check.quick(payload)
            return True
        return False

    def _refusal(self, key: tuple[str, str], payload: dict[str, Any]) -> Problem | None:
        """What ``jsonschema`` finds wrong with ``payload``, named as it names it; an internal
        error when it cannot be imported (removed under the running daemon)."""
        if self._file_name(*key) is None:
            return Problem(Fault.NOT_IMPLEMENTED, f"no {key[1]} schema for {key[0]!r}")
        try:
            official = self._validator(key)
        except ImportError as exc:
            _log.error("schema check not possible", action=key[0], side=key[1], error=repr(exc))
            return Problem(Fault.INTERNAL, f"payload not checked: {exc}"[:255])
        if official.decimals:
            payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
        if official.validator.is_valid(payload):
            return None
        error = next(iter(official.validator.iter_errors(payload)))
        where = "/".join(str(p) for p in error.absolute_path) or "payload"
        fault = _FAULTS.get(str(error.validator), Fault.BAD_PAYLOAD)
        return Problem(fault, f"{where}: {error.message}"[:255])

    def _validator(self, key: tuple[str, str]) -> _Official:
        """``jsonschema``'s validator of ``key``'s schema with its definitions inlined (as
        fast as it walks), built once (twice at worst, by two threads at once: the same)."""
        found = self._official.get(key)
        if found is None:
            from jsonschema import validators  # type: ignore[import-untyped]  # see above

            text = self._text(key)
            decimals = '"multipleOf"' in text
            schema = json.loads(text, parse_float=decimal.Decimal if decimals else float)
            cls = validators.validator_for(schema, default=validators.Draft4Validator)
            found = self._official[key] = _Official(cls(inline_definitions(schema)), decimals)
        return found

    def _text(self, key: tuple[str, str]) -> str:
        name = self._file_name(*key)
        assert name is not None  # asked for by a name listed
        # The 2.x files start with a byte order mark.
        return (self._folder / "schemas" / f"{name}.json").read_text(encoding="utf-8-sig")

    def _build(self, key: tuple[str, str]) -> _Check:
        """The compiled check of ``key``: in the builder's thread."""
        found = self._checks[key] = _Check(_BUILDER.compiled(self._text(key)))
        return found


def official_missing() -> str | None:
    """What of ``jsonschema`` and what it imports cannot be found, found without importing
    it (it waits for a first refusal); None when all is there."""
    missing = [name for name in OFFICIAL if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return f"the OCPP schema checks need {', '.join(missing)}, not installed"


def inline_definitions(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each ``{"$ref": "#/definitions/X"}`` replaced by definition X itself.
    The same checks: the validator then walks plain subschemas instead of resolving a
    reference at every step, which took about half of checking a TransactionEvent. A
    definition that refers to itself (no OCPP schema has one) keeps its reference, so the
    definitions stay at the root for it."""
    definitions = schema.get("definitions", {})

    def walk(node: Any, inside: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, inside) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = ref.removeprefix(_LOCAL) if isinstance(ref, str) and ref.startswith(_LOCAL) else ""
        if name in definitions and name not in inside:
            return walk(definitions[name], (*inside, name))
        return {key: walk(value, inside) for key, value in node.items()}

    return {key: walk(value, ()) if key != "definitions" else value
            for key, value in schema.items()}  # fmt: skip


def compile_quick(text: str) -> Callable[[Any], object]:
    """The schema in ``text`` compiled by ``fastjsonschema``: returns for a payload that
    ``jsonschema`` accepts, raises for any other (and may for some it accepts)."""
    return quick_of(quick_code(text))


def quick_code(text: str) -> bytes:
    """The code object of ``compile_quick``'s module, marshalled. Its references are
    inlined as for ``jsonschema``; numbers are read as floats (see above). No defaults:
    ``fastjsonschema`` would write them into the payload."""
    import fastjsonschema  # the child's: see above

    schema = inline_definitions(json.loads(text))
    schema.setdefault("$schema", _DRAFT_4)  # the default of ``jsonschema`` here, not draft 7
    source = fastjsonschema.compile_to_code(schema, use_default=False, use_formats=False)
    root = _FIRST_FUNCTION.search(source)  # the schema's own: generated before those it calls
    if root is None:
        raise ValueError("no function in the compiled schema")
    # Its exceptions' import, left out: ``quick_of`` binds the names it lists to ``Refused``.
    imported = _LIBRARY_IMPORT.search(source)
    names = [n.strip() for n in imported[1].split(",")] if imported else []
    if imported:
        source = source[: imported.start()] + source[imported.end() :]
    return marshal.dumps((root[1], names, compile(source, "<schema>", "exec")))


class Refused(ValueError):
    """What a compiled check raises for a payload it does not take."""

    def __init__(self, message: str, *_: object, **__: object) -> None:
        super().__init__(message)


def quick_of(code: bytes) -> Callable[[Any], object]:
    """The check in ``quick_code``'s module (marshalled by this same interpreter)."""
    name, names, module = marshal.loads(code)
    namespace: dict[str, Any] = dict.fromkeys(names, Refused)
    exec(module, namespace)  # our own code, compiled by our child
    check: Callable[[Any], object] = namespace[name]
    return check


def _serve() -> None:
    """The child: for each schema text on stdin, its ``quick_code`` on stdout, each framed
    by its length; ends with its input."""
    read, write = sys.stdin.buffer, sys.stdout.buffer
    with contextlib.suppress(BrokenPipeError):  # the parent ended: so do we
        while (text := _frame(read)) is not None:
            code = quick_code(text.decode())
            write.write(_SIZE.pack(len(code)) + code)
            write.flush()


def _frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(_SIZE.size)
    if len(head) < _SIZE.size:
        return None
    body = stream.read(_SIZE.unpack(head)[0])
    if len(body) < _SIZE.unpack(head)[0]:
        raise EOFError("frame cut short")
    return body


_Work = tuple[Callable[[], _Check], Future[_Check | None]]


class _Builder:
    """One thread that builds the checks asked for, in order, one at a time (those a CALL
    waits for first), with a child process compiling for it while there is work (none stays
    when there is none): a daemon, as a check half built at exit is not needed by anyone. Its
    lines hold each check of each version at most once, and once more when waited for."""

    def __init__(self) -> None:
        self._work: collections.deque[_Work] = collections.deque()
        self._urgent: collections.deque[_Work] = collections.deque()
        self._more = threading.Condition()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[bytes] | None = None

    def put(
        self, build: Callable[[], _Check], done: Future[_Check | None], urgent: bool = False
    ) -> None:
        """Has ``build`` run and its result set on ``done``; before the others not ``urgent``
        if ``urgent`` (a check put again when a CALL waits for it: built once all the same)."""
        with self._more:
            (self._urgent if urgent else self._work).append((build, done))
            self._more.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="schemas", daemon=True)
                self._thread.start()

    def _next(self) -> tuple[_Work, bool]:
        """The next work, and whether it is the last in line now."""
        with self._more:
            while not self._urgent and not self._work:
                self._more.wait()
            work = (self._urgent or self._work).popleft()
            return work, not self._urgent and not self._work

    def compiled(self, text: str) -> Callable[[Any], object]:
        """The check of ``text`` compiled by the child (in the builder's thread)."""
        if self._child is None:
            command = [sys.executable, "-c", f"from {__name__} import _serve; _serve()"]
            self._child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        child = self._child
        assert child.stdin is not None and child.stdout is not None
        body = text.encode()
        child.stdin.write(_SIZE.pack(len(body)) + body)
        child.stdin.flush()
        code = _frame(child.stdout)
        if code is None:
            raise EOFError("the compiling process ended")
        return quick_of(code)

    def _run(self) -> None:
        while True:
            (build, done), last = self._next()
            if not done.done():  # else built before, when it was put first
                try:
                    done.set_result(build())
                except Exception as exc:  # the official validator goes on deciding alone
                    _log.error("schema check not built", error=repr(exc))
                    self._end_child()
                    done.set_result(None)
            if last:
                self._end_child()

    def _end_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            with contextlib.suppress(OSError):
                assert child.stdin is not None
                child.stdin.close()  # it ends with its input
            if child.wait() != 0:
                _log.warning("compiling process failed", code=child.returncode)


_BUILDER = _Builder()
_SIZE = struct.Struct(">I")
_FIRST_FUNCTION = re.compile(r"^def (\w+)\(", re.MULTILINE)
_LIBRARY_IMPORT = re.compile(r"^from fastjsonschema import ([\w, ]+)$", re.MULTILINE)
_DRAFT_4 = "http://json-schema.org/draft-04/schema#"
_LOCAL = "#/definitions/"
_SHARED: dict[str, Schemas] = {}


def schemas_for(dialect: Dialect) -> Schemas:
    """The one ``Schemas`` of the dialect's version in this process."""
    found = _SHARED.get(dialect.version)
    if found is None:
        found = _SHARED[dialect.version] = Schemas(dialect)
    return found
