"""One OCPP-J RPC endpoint on one websocket, for any OCPP version: the subprotocol chosen in
the handshake decides the ``Dialect`` (message types, error codes) and the schemas.

Outgoing: one CALL in flight at a time, in the order asked, as OCPP-J demands. ``prepared``
frames and schema-checks a CALL ahead of its turn; ``exchange`` sends it, runs ``meanwhile``
(the sender builds the next CALL there) and waits for the answer until ``call_timeout_s`` after
the send. ``call`` takes its turn first and checks its CALL in it. A CALLERROR raises
``CallFailed``, an answer that breaks the schema its subclass ``AnswerRefused``, no answer in
time ``TimeoutError``, and a connection lost meanwhile ``ConnectionLost`` at once (not after the
timeout). Nothing is awaited between an answer's arrival and ``exchange`` returning it: a caller
cancelled then (a stop's deadline) would lose an answer the peer gave, and send its CALL again.

Incoming: every frame is screened (``frames``): a bad one gets the CALLERROR its version
spells, an answer without a pending CALL is logged and ignored. CALLs go through a small
queue to one worker (a task made when a CALL comes in and ended when the queue is empty: CSMS
CALLs are rare, and a worker waiting on each of a thousand connections costs megabytes), so a
handler that waits (on the session side, on the disk) never holds up the answers to our own
CALLs; each is schema-checked, handed to its handler (``on``), and
the handler's result is schema-checked before it is sent. A handler must never await an
outgoing CALL (the answer could only come after its own): it stages the work, and
``answered`` runs once the reply is out. A 2.1 SEND is handled the same way and never
answered.

A CALL, ours or the peer's, waits for the compiled forms of its request and response checks
while they are not built (the first messages of a process, a rare action's first CALL), both
within one bound (``Schemas.ready``); the answer to our CALL is then checked without waiting,
by ``jsonschema`` in place if its check is still not built (a builder stuck or failed).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from edge_controller.log import get_logger
from edge_controller.uplink import frames
from edge_controller.uplink.dialect import CALL, CALLERROR, CALLRESULT, SEND, Fault, negotiated
from edge_controller.uplink.schemas import REQUEST, RESPONSE, Problem, Schemas, schemas_for
from edge_controller.uplink.turn import Turn

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
# A handler takes the CALL's payload and returns the answer's, both as on the wire.
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
INCOMING_QUEUE = 4  # CALLs waiting for the worker; beyond, reading waits (the peer broke
# the one-CALL-at-a-time rule, so it waits a little for its answers)
_ACTION_MARK = "rpc_action"
_log = get_logger("uplink.rpc")


class Connection(Protocol):
    """The websocket as the endpoint uses it."""

    async def recv(self) -> str | bytes: ...

    async def send(self, message: str) -> None: ...

    @property
    def subprotocol(self) -> str | None: ...


class CallFailed(Exception):
    """A CALL that got a CALLERROR or an answer we could not accept; also raised by a handler
    to answer with a given error code."""

    def __init__(self, code: str, description: str, details: Any = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details if isinstance(details, dict) else {}


class AnswerRefused(CallFailed):
    """An answer to our CALL that we could not accept (it breaks the schema): the peer sent
    no CALLERROR, the code says what is wrong with its answer."""


class ConnectionLost(ConnectionError):
    """The connection ended while a CALL waited for its answer."""


@dataclass(frozen=True, slots=True)
class OutgoingCall:
    """A CALL framed and schema-checked ahead of its turn: sending it is all that is left."""

    unique_id: str
    action: str
    frame: str


@dataclass(frozen=True, slots=True)
class Limits:
    call_timeout_s: float
    max_frame_bytes: int


def on(action: str) -> Callable[[F], F]:
    """Marks a method as the handler of ``action`` (collected by ``HandlersOf``)."""

    def mark(method: F) -> F:
        setattr(method, _ACTION_MARK, str(getattr(action, "value", action)))
        return method

    return mark


def _marked(cls: type) -> dict[str, str]:
    """The names of the methods of ``cls`` marked with ``on``, by action: once per class."""
    found = _TABLES.get(cls)
    if found is None:
        marks = ((getattr(getattr(cls, n, None), _ACTION_MARK, None), n) for n in dir(cls))
        found = _TABLES[cls] = {action: n for action, n in marks if isinstance(action, str)}
    return found


_TABLES: dict[type, dict[str, str]] = {}


class HandlersOf(Mapping[str, Callable[..., Any]]):
    """The methods of ``objects`` marked with ``on``, by action; a later object's handler of
    an action replaces an earlier one's. A method is bound when it is asked for: a connection
    keeps only its objects, not a bound method per action (tens of them per connection, at a
    thousand identities a site's megabytes), and the tables of names are the classes'."""

    def __init__(self, *objects: object) -> None:
        self._objects = objects

    def __getitem__(self, action: str) -> Callable[..., Any]:
        for obj in reversed(self._objects):
            name = _marked(type(obj)).get(action)
            if name is not None:
                return getattr(obj, name)  # type: ignore[no-any-return]
        raise KeyError(action)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(a for obj in self._objects for a in _marked(type(obj))))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def dumps(message: list[Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=_number)


def _number(value: object) -> float:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


class Stored(Protocol):
    """What a connection's handlers change on disk (the identity's state file)."""

    def asked(self) -> int:
        """How many writes were asked for so far: the mark to give ``written``."""
        ...

    async def written(self, since: int = 0) -> None:
        """Returns once every change is on disk; raises when one asked for after the mark
        ``since`` could not be written (an earlier failure, nobody's answer, was logged)."""
        ...


class RpcEndpoint:
    def __init__(
        self,
        connection: Connection,
        handlers: Mapping[str, Handler],
        limits: Limits,
        answered: Callable[[], None] | None = None,
        stored: Stored | None = None,
    ) -> None:
        """``handlers``: by action, for the connection's version. ``answered``: called after
        each incoming CALL was answered (or failed to be). ``stored``: its ``written`` is
        awaited after each handler, before its answer: what the handler changed is on disk."""
        self.dialect = negotiated(connection.subprotocol)
        self.schemas: Schemas = schemas_for(self.dialect)
        self.schemas.build_ahead()  # off the event loop, before the first session needs them
        self.log = _log  # one for every connection: it binds nothing of its own
        self._connection = connection
        self._handlers = handlers
        self._limits = limits
        self._answered = answered
        self._stored = stored
        self._turn = Turn()  # one outgoing CALL in flight
        self._pending: tuple[str, asyncio.Future[list[Any]]] | None = None
        # A CALL to answer, or a reply ready to go (a bad frame's CALLERROR), in order; the
        # first is the one the worker is on. A list: a queue keeps four deques per connection.
        self._incoming: list[list[Any] | str] = []
        self._tasks: asyncio.TaskGroup | None = None
        self._worker: asyncio.Task[None] | None = None
        self._caught_up: asyncio.Future[None] | None = None  # the reader waits for the worker
        self._lost: BaseException | None = None

    async def run(self) -> None:
        """Read until the connection ends (its error is raised); answer CALLs meanwhile."""
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                await self._read()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:  # the caller handles what ended us, not a group
                raise group.exceptions[0] from None
            raise

    async def _read(self) -> None:
        try:
            while True:
                self._route(await self._connection.recv())
                if len(self._incoming) >= INCOMING_QUEUE:
                    # Bounded: read on once the worker caught up.
                    self._caught_up = asyncio.get_running_loop().create_future()
                    await self._caught_up
        except BaseException as exc:
            self._lose(exc)
            raise

    def _put(self, item: list[Any] | str) -> None:
        self._incoming.append(item)
        if self._worker is None and self._tasks is not None:
            self._worker = self._tasks.create_task(self._serve_calls())

    def _lose(self, cause: BaseException) -> None:
        self._lost = cause
        if self._pending is not None and not self._pending[1].done():
            lost = ConnectionLost(f"connection lost with a CALL in flight: {cause!r}")
            self._pending[1].set_exception(lost)

    def _route(self, raw: str | bytes) -> None:
        verdict = frames.screen(raw, self._limits.max_frame_bytes, self.dialect)
        if verdict.reply is not None:
            self.log.warning("bad frame from peer answered", reply=verdict.reply[:200])
            self._put(verdict.reply)
        elif verdict.drop or verdict.message is None:
            self.log.warning("malformed message from peer ignored")
        elif verdict.message[0] in self.dialect.calls:
            self._put(verdict.message)
        elif verdict.message[0] in (CALLRESULT, CALLERROR):
            self._take_answer(verdict.message)
        else:  # a 2.1 CALLRESULTERROR: the peer could not accept one of our answers
            self.log.warning("peer refused our answer", message=verdict.message[:4])

    def _take_answer(self, message: list[Any]) -> None:
        pending = self._pending
        if pending is None or pending[0] != message[1] or pending[1].done():
            self.log.warning("response without a pending call ignored", unique_id=message[1])
            return
        pending[1].set_result(message)

    async def _serve_calls(self) -> None:
        try:
            while self._incoming:
                message = self._incoming[0]
                try:
                    reply = message if isinstance(message, str) else await self._answer(message)
                    if reply is not None:
                        await self._connection.send(reply)
                finally:
                    del self._incoming[0]
                    if not isinstance(message, str) and self._answered is not None:
                        self._answered()
        finally:
            # No await since the last look: a CALL put now finds no worker and makes one.
            self._worker = None
            if self._caught_up is not None and not self._caught_up.done():
                self._caught_up.set_result(None)

    async def _answer(self, message: list[Any]) -> str | None:
        """The reply frame to a CALL (None for a SEND)."""
        kind, unique_id, action, payload = message
        result = await self._handle(action, payload)
        if isinstance(result, CallFailed):
            why = result.description
            self.log.warning("peer's call refused", action=action, code=result.code, reason=why)
        elif (problem := await self.schemas.problem(action, RESPONSE, result)) is not None:
            why = problem.description
            self.log.error("our answer breaks the schema", action=action, reason=why)
            result = self._failure(Fault.INTERNAL, "answer not valid")
        if not self.dialect.answered(kind):
            return None
        if isinstance(result, CallFailed):
            return frames.call_error(unique_id, result.code, result.description, result.details)
        return dumps([CALLRESULT, unique_id, result])

    async def _handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | CallFailed:
        handler = self._handlers.get(action)
        if handler is None:
            known = self.schemas.knows(action)
            fault = Fault.NOT_SUPPORTED if known else Fault.NOT_IMPLEMENTED
            return self._failure(fault, "action not handled")
        # Both waited for within one bound: the answer's check waits at most what is left.
        await self.schemas.ready(action, REQUEST, RESPONSE)
        problem = await self.schemas.problem(action, REQUEST, payload)
        if problem is not None:
            return self._failure(problem.fault, problem.description)
        # Only what this handler asked for fails its answer: a background write that failed
        # before (a profile that ended) is no fault of the CALL, and was logged.
        mark = 0 if self._stored is None else self._stored.asked()
        try:
            result = await handler(payload)
            if self._stored is not None:
                await self._stored.written(mark)
            return result
        except CallFailed as exc:
            return exc
        except Exception:
            self.log.exception("handler failed", action=action)
            return self._failure(Fault.INTERNAL, "handler failed")

    def _failure(self, fault: Fault, description: str) -> CallFailed:
        return CallFailed(self.dialect.code(fault), description)

    async def prepared(
        self, action: str, payload: dict[str, Any], unique_id: str | None = None
    ) -> OutgoingCall:
        """The CALL for ``payload`` (as on the wire), schema-checked once its compiled check
        is built, with its answer's check built too (``Schemas.ready``): CallFailed when the
        payload breaks the schema. ``unique_id`` None: a fresh one."""
        await self.schemas.ready(action, REQUEST, RESPONSE)
        problem = await self.schemas.problem(action, REQUEST, payload)
        return self._framed(action, payload, unique_id, problem)

    def prepared_at_once(self, action: str) -> bool:
        """Whether ``prepared`` would not wait for the checks of ``action``."""
        return self.schemas.settled(action, REQUEST, RESPONSE)

    def prepare(
        self, action: str, payload: dict[str, Any], unique_id: str | None = None
    ) -> OutgoingCall:
        """For benchmarks only (``bench/bench_device_model.py``), where no event loop runs: as
        ``prepared``, without waiting, and ``jsonschema`` imported and deciding on the calling
        thread while the compiled check is not built. The daemon never calls it."""
        problem = self.schemas.request_problem(action, payload)
        return self._framed(action, payload, unique_id, problem)

    def _framed(
        self, action: str, payload: dict[str, Any], unique_id: str | None, problem: Problem | None
    ) -> OutgoingCall:
        if problem is not None:
            raise self._failure(problem.fault, problem.description)
        unique_id = unique_id or str(uuid.uuid4())
        return OutgoingCall(unique_id, action, dumps([CALL, unique_id, action, payload]))

    async def send_unconfirmed(self, action: str, payload: dict[str, Any]) -> None:
        """A 2.1 SEND: schema-checked and sent, never answered, so it may go while a CALL is
        in flight. CallFailed when the payload breaks the schema or the version has no SEND."""
        if SEND not in self.dialect.calls:
            raise self._failure(Fault.NOT_SUPPORTED, f"OCPP {self.dialect.version} has no SEND")
        problem = await self.schemas.problem(action, REQUEST, payload)
        if problem is not None:
            raise self._failure(problem.fault, problem.description)
        if self._lost is not None:
            raise ConnectionLost(f"connection lost: {self._lost!r}")
        await self._connection.send(dumps([SEND, str(uuid.uuid4()), action, payload]))

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one CALL and return the answer's payload (raises as ``exchange``). Its turn is
        taken before its check, which may wait for its compiled form: CALLs go out in the order
        asked."""
        async with self._turn:
            outgoing = await self.prepared(action, payload)
            message, _ = await self._exchange(outgoing, _nothing)
        return self._accept(outgoing.action, message)

    async def exchange(
        self, outgoing: OutgoingCall, meanwhile: Callable[[], Awaitable[T]]
    ) -> tuple[dict[str, Any], T]:
        """Send a prepared CALL, run ``meanwhile`` while the peer works on it, then wait for
        the answer. Returns the answer's payload, schema-checked, and what ``meanwhile``
        returned."""
        async with self._turn:
            message, done = await self._exchange(outgoing, meanwhile)
        return self._accept(outgoing.action, message), done

    async def _exchange(
        self, outgoing: OutgoingCall, meanwhile: Callable[[], Awaitable[T]]
    ) -> tuple[list[Any], T]:
        """``exchange`` in its turn: the answer's frame, not checked yet."""
        if self._lost is not None:
            raise ConnectionLost(f"connection lost: {self._lost!r}")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Any]] = loop.create_future()
        self._pending = (outgoing.unique_id, answer)
        try:
            deadline_s = loop.time() + self._limits.call_timeout_s
            await self._connection.send(outgoing.frame)
            done = await meanwhile()
            message = await _by(answer, deadline_s, outgoing.action)
        finally:
            self._pending = None
            if answer.done() and not answer.cancelled():
                answer.exception()  # seen: no "never retrieved" warning
            answer.cancel()
        return message, done

    def _accept(self, action: str, message: list[Any]) -> dict[str, Any]:
        """The answer's payload, checked at once (``prepared`` waited for its check)."""
        if message[0] == CALLERROR:
            raise CallFailed(str(message[2]), str(message[3]), message[4])
        payload = message[2]
        if not isinstance(payload, dict):
            raise AnswerRefused(self.dialect.code(Fault.BAD_PAYLOAD), "payload not an object")
        problem = self.schemas.response_problem(action, payload)
        if problem is not None:
            code = self.dialect.code(problem.fault)
            raise AnswerRefused(code, f"answer to {action}: {problem.description}")
        return payload


async def _by(answer: asyncio.Future[list[Any]], deadline_s: float, action: str) -> list[Any]:
    """The answer, if it came by the deadline (also when it came while ``meanwhile`` ran)."""
    if answer.done():
        return answer.result()
    try:
        async with asyncio.timeout_at(deadline_s):
            return await answer
    except TimeoutError:
        raise TimeoutError(f"no answer to {action} within the call timeout") from None


async def _nothing() -> None:
    return None
