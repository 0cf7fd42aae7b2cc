"""One JSON state file written whole or not at all (a power cut mid-write keeps the old one)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomically(path: Path, data: Any, *, readable: bool = True) -> None:
    """Write ``data`` to a temporary file, flush it to disk, then rename it over ``path``.

    ``readable``: indented with sorted keys, for files an installer may open.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    with temp.open("w", encoding="utf-8") as handle:
        if readable:
            json.dump(data, handle, indent=1, sort_keys=True)
        else:
            json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)
