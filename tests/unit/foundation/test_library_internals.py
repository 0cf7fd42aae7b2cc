"""We use the ocpp and websockets packages through their public names only, so that an upgrade
within their compatible range cannot break us by changing an internal.

A use of an internal is: importing an underscore name (or module) of either package; reading or
writing an underscore attribute that either package defines, on anything but our own classes'
``self`` (a subclass of a library class included: its ``self._x`` is the library's); or the
same through ``getattr``/``setattr``/``hasattr`` with a constant name. The scan covers the
product, the tests and the benchmarks.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

ROOT = Path(__file__).parents[3]
SCANNED = ("edge_controller", "tests", "bench")
LIBRARIES = ("ocpp", "websockets")
_ACCESSORS = {"getattr", "setattr", "hasattr", "delattr"}
_UNDERSCORE_NAME = re.compile(r"(?<![A-Za-z0-9_])_[A-Za-z0-9_]+")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def library_private_names() -> frozenset[str]:
    """Every underscore name in the libraries' sources (defined or used there; a name in a
    comment too, which only makes the set larger)."""
    names: set[str] = set()
    for library in LIBRARIES:
        for source in _python_files(resources.files(library)):
            names |= {n for n in _UNDERSCORE_NAME.findall(source) if _private(n)}
    return frozenset(names)


def _python_files(folder: Traversable) -> Iterator[str]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _python_files(entry)
        elif entry.name.endswith(".py"):
            yield entry.read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Use:
    line: int
    what: str


class _Scanner(ast.NodeVisitor):
    def __init__(self, private: frozenset[str]) -> None:
        self.private = private
        self.library_bound: set[str] = set()  # local names bound to a library module or object
        self.classes: list[tuple[bool, set[str]]] = []  # (library subclass, own self._ names)
        self.uses: list[Use] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in LIBRARIES:
                self._check_module(node, alias.name)
                self.library_bound.add((alias.asname or alias.name).split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level != 0 or module.split(".")[0] not in LIBRARIES:
            return
        self._check_module(node, module)
        for alias in node.names:
            if _private(alias.name):
                self.uses.append(Use(node.lineno, f"imports {module}.{alias.name}"))
            self.library_bound.add(alias.asname or alias.name)

    def _check_module(self, node: ast.stmt, module: str) -> None:
        if any(_private(part) for part in module.split(".")):
            self.uses.append(Use(node.lineno, f"imports {module}"))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        subclass = any(_root_name(base) in self.library_bound for base in node.bases)
        own = {
            n.attr
            for n in ast.walk(node)
            if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and _is_self(n.value)
        }
        own |= {n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        self.classes.append((subclass, set() if subclass else own))
        self.generic_visit(node)
        self.classes.pop()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._check_attribute(node.lineno, node.value, node.attr)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in _ACCESSORS and len(node.args) >= 2:
            attr = node.args[1]
            if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                self._check_attribute(node.lineno, node.args[0], attr.value)
        self.generic_visit(node)

    def _check_attribute(self, line: int, owner: ast.expr, attr: str) -> None:
        if not _private(attr):
            return
        if _root_name(owner) in self.library_bound:
            self.uses.append(Use(line, f"{ast.unparse(owner)}.{attr}"))
            return
        if attr not in self.private:
            return
        ours = bool(self.classes) and _is_self(owner) and attr in self.classes[-1][1]
        if not ours:
            self.uses.append(Use(line, f"{ast.unparse(owner)}.{attr}"))


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in {"self", "cls"}


def internal_uses(source: str) -> list[Use]:
    scanner = _Scanner(library_private_names())
    scanner.visit(ast.parse(source))
    return scanner.uses


def _scanned_files() -> list[Path]:
    return sorted(p for top in SCANNED for p in (ROOT / top).rglob("*.py"))


def test_nothing_of_ours_uses_an_internal_of_ocpp_or_websockets() -> None:
    found = {
        str(path.relative_to(ROOT)): [f"{u.line}: {u.what}" for u in uses]
        for path in _scanned_files()
        if (uses := internal_uses(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_scan_sees_what_the_charge_point_used_to_do() -> None:
    # The OCPP 1.6 charge point before it had its own RPC loop, in short.
    source = """
from ocpp.v16 import ChargePoint
from ocpp import messages
from ocpp.messages import _validate_payload
import websockets.legacy._helpers

class EdgeChargePoint(ChargePoint):
    async def exchange(self, frame):
        async with self._call_lock:
            await self._connection.send(frame)
            return await self._get_specific_response("id", self._response_timeout)

    async def route(self, call):
        await self._handle_call(call)

def peek(cp, queue):
    messages._validators.clear()
    return cp._response_queue.qsize() + getattr(queue, "_response_queue").qsize()
"""
    found = {u.what for u in internal_uses(source)}
    assert found == {
        "imports ocpp.messages._validate_payload",
        "imports websockets.legacy._helpers",
        "self._call_lock",
        "self._connection",
        "self._get_specific_response",
        "self._response_timeout",
        "self._handle_call",
        "messages._validators",
        "cp._response_queue",
        "queue._response_queue",
    }


def test_our_own_underscore_names_are_ours() -> None:
    # _connection is also a name inside the ocpp package: in a class of ours it is ours.
    source = """
import asyncio

class Endpoint:
    def __init__(self, connection):
        self._connection = connection
        self._lock = asyncio.Lock()

    async def send(self, frame):
        async with self._lock:
            await self._connection.send(frame)
"""
    assert internal_uses(source) == []
