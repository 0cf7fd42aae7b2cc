"""Exact amounts to printed ones: parts that still add up to their rounded total."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from edge_controller.domain.pricing.money import round_half_up


def apportion(parts: Sequence[Fraction], places: int) -> list[Decimal]:
    """``parts`` rounded to ``places`` decimals so that every running sum is the running sum of
    the exact parts rounded half up: the results add up to the rounded exact total, and each is
    less than one unit away from its exact value."""
    result: list[Decimal] = []
    running, shown = Fraction(0), Decimal(0).scaleb(-places)
    for part in parts:
        running += part
        rounded = round_half_up(running, places)
        result.append(rounded - shown)
        shown = rounded
    return result


def apportion_to(weights: Sequence[Fraction], target: Decimal, places: int) -> list[Decimal] | None:
    """``target`` (already rounded) split in proportion to ``weights``; None if they are all 0."""
    total = sum(weights, Fraction(0))
    if total == 0:
        return None
    scale = Fraction(target) / total
    return apportion([weight * scale for weight in weights], places)
