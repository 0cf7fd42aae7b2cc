"""Schema checks at a process's start and when a payload is refused: a CALL or answer waits for
its compiled check rather than having ``jsonschema`` decide meanwhile, so routine traffic never
imports it (``test_lean_uplink``); a payload the compiled check refuses is refused as
``jsonschema`` names it, and only then is ``jsonschema`` imported; a builder that cannot run
leaves ``jsonschema`` deciding every check, and one that never answers after a bounded wait.
Each scenario runs in a fresh process (``schema_child``): a module once imported stays, and a
check once built is kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
# As jsonschema names it: the code and text of today's refusal of the connector's number as a word.
REFUSED = ["TypeConstraintViolation", "connectorId: 'one' is not of type 'integer'"]


def _run(scenario: str, state_dir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.integration.ocpp.schema_child", scenario, str(state_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    ).stdout
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found


def test_the_first_call_of_a_process_waits_for_its_compiled_check(tmp_path: Path) -> None:
    found = _run("first_call_valid", tmp_path)
    assert found["answer"] == "Accepted"
    assert found["check"] == "built"
    assert not found["before"] and not found["after"]


def test_a_first_call_that_breaks_its_schema_is_refused_as_jsonschema_names_it(
    tmp_path: Path,
) -> None:
    found = _run("first_call_refused", tmp_path)
    assert not found["before"]
    assert found["refused"] == REFUSED
    assert found["check"] == "built"  # it waited for the compiled check, which refused
    assert found["after"]  # imported to name the fault
    assert found["received"] == ["BootNotification"]  # the refused CALL never went out
    assert found["answer"] == "Accepted"


def test_a_malformed_call_from_the_csms_gets_the_callerror_jsonschema_names(
    tmp_path: Path,
) -> None:
    found = _run("peer_malformed", tmp_path)
    assert found["valid"] == [3, "v1", {"status": "Accepted"}]
    assert not found["before"]  # a rare CALL, valid: checked by its compiled check
    assert found["reply"] == [4, "m1", *REFUSED, {}]
    assert found["after"]


def test_a_builder_that_cannot_start_leaves_jsonschema_deciding(tmp_path: Path) -> None:
    found = _run("builder_fails", tmp_path)
    assert not found["before"]
    assert found["check"] == "failed"
    assert found["answer"] == "Accepted"  # taken by jsonschema, once the builder failed
    assert found["refused"] == REFUSED
    assert found["received"] == ["BootNotification"]
    assert found["after"]


def test_a_builder_that_never_answers_holds_each_check_a_bounded_time(tmp_path: Path) -> None:
    found = _run("builder_hangs", tmp_path)
    assert found["check"] == "building"  # still: the compiling process never answered
    assert found["answer"] == "Accepted"  # taken by jsonschema once the wait ended
    assert found["refused"] == REFUSED
    assert found["received"] == ["BootNotification"]
    assert found["after"]


def test_the_answer_to_a_call_is_returned_without_waiting_for_its_check(tmp_path: Path) -> None:
    found = _run("answer_unchecked", tmp_path)
    assert found["received"] == ["BootNotification"]
    assert found["check"] == "building"  # never built: jsonschema took the answer in place
    assert found["answer"] == "Accepted"


def test_calls_of_two_tasks_go_out_in_the_order_asked(tmp_path: Path) -> None:
    found = _run("calls_in_order", tmp_path)
    assert found["check"] == "built"
    assert found["received"] == ["BootNotification", "DataTransfer", "Heartbeat"]


def test_the_outbox_does_not_hold_the_turn_while_its_next_messages_checks_are_built(
    tmp_path: Path,
) -> None:
    found = _run("outbox_turn_free", tmp_path)
    assert found["authorize"] == "answered"
    assert found["received"] == ["MeterValues", "Authorize", "DataTransfer"]


def test_a_csms_call_waits_once_for_its_request_and_answer_checks(tmp_path: Path) -> None:
    found = _run("peer_call_one_wait", tmp_path)
    assert found["reply"] == [3, "v1", {"status": "Accepted"}]
    assert found["one_deadline"]


def test_without_jsonschema_every_call_is_answered_and_settled(tmp_path: Path) -> None:
    found = _run("without_jsonschema", tmp_path)
    assert found["valid"] == [3, "v1", {"status": "Accepted"}]
    assert found["reply"] == [4, "m1", "InternalError"]
    assert found["refused"] == ["InternalError"]  # a CallFailed: the outbox parks it
    assert found["answer"] == "Accepted"
    assert found["received"] == ["BootNotification"]


def test_an_ocpp_site_without_jsonschema_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(
        "site:\n  id: schema-test\n  grid_limit_a: 32\n"
        f"storage:\n  state_dir: {tmp_path / 'state'}\n"
        "ocpp:\n  enabled: true\n  url: ws://127.0.0.1:9/ocpp\n  identity: cp1\n"
    )
    hidden = "import sys, runpy; sys.modules['jsonschema'] = None; runpy.run_module("
    hidden += "'edge_controller', run_name='__main__')"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CONTROLLER__")}
    done = subprocess.run(
        [sys.executable, "-c", hidden, "run", "--config", str(config)],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr  # fix the installation
    assert "need jsonschema, not installed; refusing to start" in done.stderr
