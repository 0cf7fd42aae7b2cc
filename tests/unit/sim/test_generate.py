"""The site generator: what a compact description makes, and the key a wrong one names."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_controller.cli import main
from edge_controller.config.load import load_config
from edge_controller.sim.generate import GenerateError, connector_ids, generate_site

DESCRIPTION = Path(__file__).parents[3] / "config" / "scale-100.gen.yaml"


def description(**generate: Any) -> dict[str, Any]:
    return {"site": {"id": "big", "grid_limit_a": 400}, "generate": generate}


def test_the_shipped_description_makes_a_config_the_daemon_loads(tmp_path: Path) -> None:
    made = generate_site(yaml.safe_load(DESCRIPTION.read_text(encoding="utf-8")))
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(made), encoding="utf-8")
    settings = load_config(path).settings
    assert sum(c.connectors for c in settings.chargers.values()) == 100
    assert all(c.simulated for c in settings.chargers.values())
    assert len(settings.simulation.ev_script) == 100
    # every feeder is metered, every charger hangs on a leaf of the tree
    leaves = {fid for fid in settings.site.feeders} - {
        f.parent for f in settings.site.feeders.values()
    }
    assert {c.feeder for c in settings.chargers.values()} == leaves
    assert {m.feeder for m in settings.meters.values() if m.role == "feeder"} == set(
        settings.site.feeders
    )


def test_charx_controllers_fill_gateways_with_distinct_unit_ids() -> None:
    made = generate_site(
        description(first_port=30000, charx={"controllers": 70, "per_gateway": 32}, keba=3)
    )
    per_bus = Counter((c["bus"], c["unit_id"]) for c in made["chargers"].values())
    assert max(per_bus.values()) == 1
    gateways = {c["bus"] for c in made["chargers"].values() if c["bus"].startswith("gw")}
    assert gateways == {"gw1", "gw2", "gw3"}
    ports = [b["port"] for b in made["buses"].values()]
    assert sorted(ports) == list(range(30000, 30000 + len(made["buses"])))
    assert len(connector_ids(made["chargers"])) == 70 * 8 + 3


def test_each_charx_has_its_own_address_unless_told_otherwise() -> None:
    # As on a real site (each controller is an Ethernet device); 32 behind one address were
    # more than one connection carries at a 1 s poll.
    made = generate_site(description(first_port=30000, charx={"controllers": 3}))
    assert [(c["bus"], c["unit_id"]) for c in made["chargers"].values()] == [
        ("gw1", 1), ("gw2", 1), ("gw3", 1),
    ]  # fmt: skip
    assert [b["port"] for b in made["buses"].values()] == [30000, 30001, 30002, 30003]


def test_feeder_tree_levels_multiply() -> None:
    made = generate_site(
        description(
            keba=12,
            feeders=[{"count": 2, "limit_a": 200}, {"count": 3, "limit_a": 80}],
        )
    )
    feeders = made["site"]["feeders"]
    assert len(feeders) == 2 + 6
    assert Counter(f.get("parent") for f in feeders.values()) == {None: 2, "f1_1": 3, "f1_2": 3}
    assert Counter(c["feeder"] for c in made["chargers"].values()) == {
        fid: 2 for fid, f in feeders.items() if f.get("parent")
    }


def test_the_description_is_left_as_it_was() -> None:
    given = description(keba=2)
    generate_site(given)
    assert given == description(keba=2)


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"site": {"id": "x", "grid_limit_a": 10}}, "generate"),
        (description(), "no chargers"),
        (description(charx={"controllers": 1, "connectors": 9}), "generate.charx.connectors"),
        (description(charx={"controllers": 1, "per_gateway": 248}), "per_gateway"),
        (description(keba=1, feeders=[{"count": 2}]), "generate.feeders[0].limit_a"),
        (description(keba=1, arrivals={"every_s": 1}), "generate.arrivals.profiles"),
        (description(keba=2, first_port=65535), "generate.first_port"),
        ({**description(keba=1), "chargers": {}}, "chargers"),
        # A misspelt key would leave its block at its defaults: a different site, silently.
        (description(keba=1, charks={"controllers": 5}), "generate.charks: unknown key"),
        (description(charx={"controller": 5}), "generate.charx.controller: unknown key"),
        (description(keba=1, feeders=[{"count": 2, "limit": 9}]), "feeders[0].limit: unknown"),
        (description(keba=1, arrivals={"every": 1, "profiles": ["x"]}), "arrivals.every: unknown"),
        (description(charx=5), "generate.charx: must be a mapping"),
        (description(keba=1, feeders={"count": 2}), "generate.feeders: must be a list"),
    ],
)
def test_a_wrong_description_names_the_key(given: dict[str, Any], named: str) -> None:
    with pytest.raises(GenerateError, match=named.replace("[", r"\[").replace("]", r"\]")):
        generate_site(given)


def test_cli_writes_the_config_and_refuses_a_wrong_description(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site.yaml"
    assert main(["simulate", "--generate", str(DESCRIPTION), "--out", str(out)]) == 0
    assert "100 connector(s)" in capsys.readouterr().out
    assert len(load_config(out).settings.chargers) == 23
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump(description(charx={"controllers": 0})), encoding="utf-8")
    assert main(["simulate", "--generate", str(wrong), "--out", str(tmp_path / "x.yaml")]) == 2
    assert "no chargers" in capsys.readouterr().err
    assert main(["simulate", "--generate", str(DESCRIPTION)]) == 2
    assert "--out" in capsys.readouterr().err


def test_cli_refuses_a_misspelt_key_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = yaml.safe_load(DESCRIPTION.read_text(encoding="utf-8"))
    shipped["generate"]["charks"] = shipped["generate"].pop("charx")
    wrong, out = tmp_path / "wrong.yaml", tmp_path / "site.yaml"
    wrong.write_text(yaml.safe_dump(shipped), encoding="utf-8")
    assert main(["simulate", "--generate", str(wrong), "--out", str(out)]) == 2
    assert "generate.charks: unknown key" in capsys.readouterr().err
    assert not out.exists()


def test_cli_names_a_wrong_site_key_at_the_descriptions_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong, out = tmp_path / "wrong.gen.yaml", tmp_path / "state" / "site.yaml"
    text = DESCRIPTION.read_text(encoding="utf-8").replace("grid_limit_a:", "grid_limt_a:")
    wrong.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  grid_limt_a: 320") + 1
    assert main(["simulate", "--generate", str(wrong), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{wrong}:" in err
    assert f"site.grid_limt_a (line {line}): unknown key; did you mean 'grid_limit_a'?" in err
    assert "nothing written" in err
    assert not out.parent.exists()


def test_cli_makes_the_folder_it_writes_into(tmp_path: Path) -> None:
    # The shipped description's own first line writes under state/, missing on a fresh clone.
    out = tmp_path / "state" / "scale-100" / "site.yaml"
    assert main(["simulate", "--generate", str(DESCRIPTION), "--out", str(out)]) == 0
    assert len(load_config(out).settings.chargers) == 23


def _failsafe_warnings(config: dict[str, Any], tmp_path: Path) -> list[str]:
    path = tmp_path / "made.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return [w.reason for w in load_config(path).warnings if "failsafe" in w.reason]


def test_a_site_its_connectors_would_overload_at_their_failsafe_falls_back_to_0_a(
    tmp_path: Path,
) -> None:
    shipped = yaml.safe_load(DESCRIPTION.read_text(encoding="utf-8"))
    made = generate_site(shipped)
    # 100 connectors at 6 A are 600 A on a 320 A grid and 324 A on a 200 A feeder.
    assert {c["failsafe_current_a"] for c in made["chargers"].values()} == {0.0}
    assert made["site"]["fallback_current_a"] == 0.0
    assert _failsafe_warnings(made, tmp_path) == []
    made["site"]["fallback_current_a"] = 6.0  # as before: the check would warn
    assert any("grid L1 320 A" in w for w in _failsafe_warnings(made, tmp_path))
    kept = yaml.safe_load(DESCRIPTION.read_text(encoding="utf-8"))
    kept["site"]["fallback_current_a"] = 6.0  # the installer's own value is left to them
    assert generate_site(kept)["site"]["fallback_current_a"] == 6.0


def test_a_site_whose_connectors_fit_at_their_failsafe_keeps_the_default(tmp_path: Path) -> None:
    # 16 connectors at 6 A are 96 A: within the 400 A grid and the 100 A feeders.
    made = generate_site(
        description(charx={"controllers": 2}, feeders=[{"count": 2, "limit_a": 100}])
    )
    assert all("failsafe_current_a" not in c for c in made["chargers"].values())
    assert "fallback_current_a" not in made["site"]
    assert _failsafe_warnings(made, tmp_path) == []
    crowded = generate_site(
        description(charx={"controllers": 4}, feeders=[{"count": 2, "limit_a": 90}])
    )  # 96 A under a 90 A feeder, though 192 A fit the grid
    assert {c["failsafe_current_a"] for c in crowded["chargers"].values()} == {0.0}


def test_cli_says_which_chargers_have_no_watchdog_to_fall_back_by_themselves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CHARX profile programs no watchdog: a 0 A failsafe current reaches it only from an
    # orderly stop, and the installer is told so; the KEBA's watchdog needs no such word.
    out = tmp_path / "site.yaml"
    assert main(["simulate", "--generate", str(DESCRIPTION), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "phoenix_charx_sec3xxx: no watchdog in the profile" in said
    assert "keba_kecontact_p30" not in said
