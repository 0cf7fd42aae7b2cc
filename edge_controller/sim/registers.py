"""The register image of one device profile: which address belongs to which point.

Pure lookup tables built once from a profile. Reads inside a device's register block may span
small unused gaps (they read 0, as most devices do); reads outside every block, and writes that
do not cover whole writable points, are refused like a real device (exception 02).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_controller.drivers.profiles.schema import Point, Profile

ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
DEVICE_FAILURE = 4

TABLE_OF_FUNCTION = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 4: "input"}
TABLE_OF_FUNCTION.update({fc: "holding" for fc in (3, 6, 16, 22, 23)})


@dataclass(frozen=True, slots=True)
class Cell:
    """One register (or bit) of a point: which point, which connector, which word of it."""

    point_name: str
    connector: int | None  # None: shared by all connectors
    word: int
    start: int  # address of the point's first word


@dataclass(frozen=True, slots=True)
class PointRef:
    name: str
    point: Point
    connector: int | None
    address: int


class RegisterMap:
    """Address → cell for each table, and the readable spans of each table."""

    def __init__(self, profile: Profile, connectors: int) -> None:
        self.profile = profile
        self.connectors = max(1, min(connectors, profile.connectors.count))
        tables = ("coil", "discrete", "input", "holding")
        self.cells: dict[str, dict[int, Cell]] = {table: {} for table in tables}
        self.refs: dict[tuple[str, int | None], PointRef] = {}
        for name, point in profile.points.items():
            numbers: list[int | None] = (
                list(range(1, self.connectors + 1)) if point.per_connector else [None]
            )
            for number in numbers:
                address = profile.address_of(point, number or 1)
                self.refs[(name, number)] = PointRef(name, point, number, address)
                for word in range(point.words):
                    taken = self.cells[point.table].get(address + word)
                    if taken is not None and profile.points[taken.point_name].writable:
                        continue  # a register read and written under two names: serve the setpoint
                    self.cells[point.table][address + word] = Cell(name, number, word, address)
        self._spans = {table: self._build_spans(table) for table in self.cells}

    def _build_spans(self, table: str) -> list[tuple[int, int]]:
        """Address ranges [first, last] a read may touch: points plus gaps up to the hole limit."""
        spans: list[tuple[int, int]] = []
        gap = self.profile.transport.max_hole_registers
        for address in sorted(self.cells[table]):
            if spans and address - spans[-1][1] - 1 <= gap:
                spans[-1] = (spans[-1][0], address)
            else:
                spans.append((address, address))
        return spans

    def readable(self, table: str, address: int, count: int) -> bool:
        last = address + count - 1
        return any(first <= address and last <= end for first, end in self._spans[table])

    def cell(self, table: str, address: int) -> Cell | None:
        return self.cells[table].get(address)

    def ref(self, name: str, connector: int | None) -> PointRef | None:
        return self.refs.get((name, connector))

    def write_targets(self, table: str, address: int, count: int) -> list[PointRef] | None:
        """The whole writable points a write covers exactly, or None (→ exception 02)."""
        targets: list[PointRef] = []
        cursor = address
        while cursor < address + count:
            cell = self.cell(table, cursor)
            if cell is None or cell.word != 0 or cell.start != cursor:
                return None
            ref = self.ref(cell.point_name, cell.connector)
            if ref is None or not ref.point.writable:
                return None
            targets.append(ref)
            cursor += ref.point.words
        return targets if cursor == address + count else None
