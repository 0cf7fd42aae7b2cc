"""A small line plot as SVG (no plotting library is installed here): one figure against the
connector count, log-scaled x, with the points labelled by their values."""

from __future__ import annotations

import math
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 480, 300, 60


def _x(value: float, low: float, high: float) -> float:
    span = math.log10(high) - math.log10(low) or 1.0
    return MARGIN + (math.log10(value) - math.log10(low)) / span * (WIDTH - 2 * MARGIN)


def _y(value: float, top: float) -> float:
    return HEIGHT - MARGIN - value / (top or 1.0) * (HEIGHT - 2 * MARGIN)


def write_plot(path: Path, figure: str, xs: list[float], ys: list[float]) -> None:
    """``figure`` (ys) against connectors (xs, all > 0); NaN values are left out."""
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if not math.isnan(y)]
    low, high = min(xs), max(xs)
    top = max((y for _, y in points), default=1.0) * 1.15
    coords = [(_x(x, low, high), _y(y, top)) for x, y in points]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="14">{figure}</text>',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" '
        f'y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 20}" text-anchor="middle">'
        "connectors (log scale)</text>",
        f'<text x="{MARGIN - 6}" y="{HEIGHT - MARGIN}" text-anchor="end">0</text>',
        f'<text x="{MARGIN - 6}" y="{MARGIN + 4}" text-anchor="end">{top:.3g}</text>',
    ]
    for x in xs:
        px = _x(x, low, high)
        parts.append(
            f'<text x="{px:.1f}" y="{HEIGHT - MARGIN + 16}" text-anchor="middle">{x:g}</text>'
        )
    if coords:
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
        parts.append(f'<polyline points="{line}" fill="none" stroke="#1f6fb4" stroke-width="2"/>')
    for (px, py), (_, y) in zip(coords, points, strict=True):
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="#1f6fb4"/>')
        parts.append(f'<text x="{px:.1f}" y="{py - 8:.1f}" text-anchor="middle">{y:g}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
