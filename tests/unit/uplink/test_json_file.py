from __future__ import annotations

import json
from pathlib import Path

from edge_controller.uplink.json_file import write_json_atomically


def test_a_state_file_is_replaced_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ocpp-site1.json"
    write_json_atomically(path, {"b": 1, "a": [1, 2]})
    assert path.read_text(encoding="utf-8").startswith('{\n "a"')  # readable: sorted, indented
    write_json_atomically(path, [[1.5, None]], readable=False)
    assert json.loads(path.read_text(encoding="utf-8")) == [[1.5, None]]
    assert sorted(p.name for p in path.parent.iterdir()) == ["ocpp-site1.json"]
