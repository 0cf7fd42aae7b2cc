"""Plan the reads that fetch a set of points: merge neighbours into blocks. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from edge_controller.drivers.profiles.schema import Point, Table


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    offset: int
    point: Point


@dataclass(slots=True)
class Block:
    table: Table
    start: int
    count: int
    members: list[Member] = field(default_factory=list)


def plan_reads(
    points: Iterable[tuple[str, Point, int]], max_registers: int, max_hole: int
) -> list[Block]:
    """Blocks covering ``(name, point, address)``; each at most ``max_registers`` long and
    spanning at most ``max_hole`` unused registers between two points."""
    blocks: list[Block] = []
    ordered = sorted(points, key=lambda p: (p[1].table, p[2]))
    for name, point, address in ordered:
        end = address + point.words
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and last.table == point.table
            and address - (last.start + last.count) <= max_hole
            and end - last.start <= max_registers
        ):
            last.count = max(last.count, end - last.start)
            last.members.append(Member(name, address - last.start, point))
        else:
            blocks.append(Block(point.table, address, point.words, [Member(name, 0, point)]))
    return blocks
