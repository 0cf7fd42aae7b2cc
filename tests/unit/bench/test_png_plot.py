"""The benchmarks' PNG plots: a real image of the figure's points, gaps left out."""

from __future__ import annotations

import math
import struct
from pathlib import Path

from bench.png_plot import write_png


def test_a_figure_against_the_connector_count_is_a_png(tmp_path: Path) -> None:
    path = tmp_path / "scale-cpu_share_of_core.png"
    write_png(path, "cpu_share_of_core", [10.0, 24.0, 100.0, 1000.0], [0.02, 0.04, math.nan, 0.8])
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (640, 400)
