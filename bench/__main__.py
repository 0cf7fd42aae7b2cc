"""Run every benchmark module (or those named), print one table, write bench/results/<area>.json."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[str(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(c[i]) for c in cells)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) for cell in cells]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    names = [
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    ]
    wanted = [f"bench_{a}" for a in argv] or sorted(names)
    RESULTS.mkdir(exist_ok=True)
    for name in wanted:
        module = importlib.import_module(f"bench.{name}")
        started = time.time()
        rows: list[dict[str, Any]] = module.run()
        area = name.removeprefix("bench_")
        print(f"\n== {area} ({time.time() - started:.1f} s)\n{_table(rows)}")
        payload = {
            "area": area,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "rows": rows,
        }
        (RESULTS / f"{area}.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
