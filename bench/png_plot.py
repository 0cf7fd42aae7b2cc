"""The same line plot as ``svg_plot`` as a PNG, drawn by matplotlib (a benchmark-only dependency,
the ``bench`` extra that scripts/setup.sh installs): a figure against the connector count, log-
scaled x, each point labelled with its value."""

from __future__ import annotations

import math
from pathlib import Path

MAX_LABELS = 12  # more points than this are drawn without their values


def write_png(
    path: Path,
    figure: str,
    xs: list[float],
    ys: list[float],
    *,
    x_label: str = "connectors (log scale)",
    log_x: bool = True,
) -> None:
    """``figure`` (ys) against connectors (xs, all > 0) to ``path``; NaN values are left out."""
    # Imported here: the daemon's tests import the benchmark modules without the bench extra.
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot

    points = [(x, y) for x, y in zip(xs, ys, strict=True) if not math.isnan(y)]
    fig, ax = pyplot.subplots(figsize=(6.4, 4.0), dpi=100)
    try:
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o", color="#1f6fb2")
        if log_x:
            ax.set_xscale("log")
            ax.set_xticks(sorted(set(xs)), [f"{x:,.0f}" for x in sorted(set(xs))])
            ax.minorticks_off()
        if len(points) <= MAX_LABELS:
            for x, y in points:
                ax.annotate(f"{y:g}", (x, y), textcoords="offset points", xytext=(0, 6),
                            ha="center", fontsize=8)  # fmt: skip
        ax.set_ylim(bottom=0, top=max((y for _, y in points), default=1.0) * 1.15 or 1.0)
        ax.set_title(figure)
        ax.set_xlabel(x_label)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        pyplot.close(fig)
