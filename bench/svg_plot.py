"""A small line plot as SVG (no plotting library is installed here): one figure against the
connector count, log-scaled x, with the points labelled by their values (or against time,
linear x, for a soak)."""

from __future__ import annotations

import math
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 480, 300, 60
MAX_LABELS = 12  # more points than this are drawn without their values


def _x(value: float, low: float, high: float, log_x: bool = True) -> float:
    if not log_x:
        return MARGIN + (value - low) / ((high - low) or 1.0) * (WIDTH - 2 * MARGIN)
    span = math.log10(high) - math.log10(low) or 1.0
    return MARGIN + (math.log10(value) - math.log10(low)) / span * (WIDTH - 2 * MARGIN)


def _y(value: float, top: float) -> float:
    return HEIGHT - MARGIN - value / (top or 1.0) * (HEIGHT - 2 * MARGIN)


def write_plot(
    path: Path,
    figure: str,
    xs: list[float],
    ys: list[float],
    *,
    x_label: str = "connectors (log scale)",
    log_x: bool = True,
) -> None:
    """``figure`` (ys) against connectors (xs, all > 0); NaN values are left out. Many points
    (a soak's samples) are drawn without their labels."""
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if not math.isnan(y)]
    low, high = min(xs), max(xs)
    top = max((y for _, y in points), default=1.0) * 1.15
    coords = [(_x(x, low, high, log_x), _y(y, top)) for x, y in points]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="14">{figure}</text>',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" '
        f'y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 20}" text-anchor="middle">{x_label}</text>',
        f'<text x="{MARGIN - 6}" y="{HEIGHT - MARGIN}" text-anchor="end">0</text>',
        f'<text x="{MARGIN - 6}" y="{MARGIN + 4}" text-anchor="end">{top:.3g}</text>',
    ]
    for x in xs if len(xs) <= MAX_LABELS else (low, high):
        px = _x(x, low, high, log_x)
        parts.append(
            f'<text x="{px:.1f}" y="{HEIGHT - MARGIN + 16}" text-anchor="middle">{x:g}</text>'
        )
    if coords:
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
        parts.append(f'<polyline points="{line}" fill="none" stroke="#1f6fb4" stroke-width="2"/>')
    for (px, py), (_, y) in zip(coords, points, strict=True):
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="#1f6fb4"/>')
        if len(points) <= MAX_LABELS:
            parts.append(f'<text x="{px:.1f}" y="{py - 8:.1f}" text-anchor="middle">{y:g}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
