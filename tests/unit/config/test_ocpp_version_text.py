"""An OCPP version written as a number (``version: 2.1`` unquoted, or
``EDGE_CONTROLLER__OCPP__VERSION=2.1`` as ``DEMO_OCPP=2.1 make run`` sets it) is the version
its text names, not a refused number."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_controller.config.load import load_config, load_settings
from tests.unit.conftest import PROFILES

DEMO = Path(__file__).parents[3] / "config" / "demo.yaml"


@pytest.mark.parametrize(
    ("value", "versions"),
    [("2.1", ("2.1",)), ("1.6", ("1.6",)), ("2.0.1", ("2.0.1",)), ("[2.1, 1.6]", ("2.1", "1.6"))],
)
def test_a_version_from_the_environment_is_its_text(
    value: str, versions: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_CONTROLLER__OCPP__VERSION", value)
    assert load_settings(DEMO).ocpp.versions == versions


def test_an_unquoted_version_in_the_file_is_its_text(tmp_path: Path) -> None:
    text = DEMO.read_text().replace("  topology: site", "  topology: site\n  version: 2.1", 1)
    path = tmp_path / "site.yaml"
    path.write_text(text)
    assert load_settings(path).ocpp.versions == ("2.1",)


def test_each_identity_offers_its_chargers_own_versions_or_the_sites() -> None:
    """What the daemon's uplink offers per identity: per_charger, a charger's own version
    list where it has one; with topology site, the site's list on its one identity."""
    per_charger = Path(__file__).parent / "configs" / "ocpp_charger_version_per_charger.yaml"
    settings = load_config(per_charger, PROFILES).settings
    assert settings.ocpp_versions() == {"cp1": ("1.6",), "cp2": ("2.1", "2.0.1")}
    site = settings.model_copy(
        update={"ocpp": settings.ocpp.model_copy(update={"topology": "site"})}
    )
    assert site.ocpp_versions() == {"s": ("1.6",)}
