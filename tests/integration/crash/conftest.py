from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "soak: long randomized runs, enabled by EDGE_CONTROLLER_SOAK=1"
    )
