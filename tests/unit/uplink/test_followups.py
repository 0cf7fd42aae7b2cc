"""Follow-ups a CSMS handler stages: released after its answer, dropped when the queue is
full; a GetLog whose upload was dropped does not stay "accepted"."""

from __future__ import annotations

from typing import Any, cast

from edge_controller.config.settings import OcppSettings
from edge_controller.uplink.link import FOLLOWUP_QUEUE_SIZE, IdentityLink, Trigger, UploadLog
from edge_controller.uplink.topology import Topology

UPLOAD = UploadLog("http://127.0.0.1/log", "diagnostics.zip", 9, 0, 60.0)


def _link() -> IdentityLink:
    unused = cast(Any, None)  # the follow-up queue uses none of these
    topology = Topology("site", "cp", {"c": 1})
    return IdentityLink(
        "cp", OcppSettings(), topology, unused, unused, unused, unused, unused, lambda: 0.0
    )


async def test_a_staged_upload_is_released_and_stays_accepted() -> None:
    link = _link()
    link.log_accepted = 9
    link.stage(UPLOAD)
    link.release_staged()
    assert link.followups == [UPLOAD] and link.log_accepted == 9


async def test_an_upload_dropped_on_a_full_queue_is_not_left_accepted() -> None:
    link = _link()
    link.followups.extend(Trigger("Heartbeat") for _ in range(FOLLOWUP_QUEUE_SIZE))
    link.log_accepted = 9
    link.stage(UPLOAD)
    link.release_staged()
    assert link.log_accepted is None and link.staged == []
    assert UPLOAD not in link.followups and len(link.followups) == FOLLOWUP_QUEUE_SIZE
