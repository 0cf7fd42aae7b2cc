"""Key codes (OCPP 2.x IdToken type KeyCode) against the schema-strict CSMS in 2.0.1 and 2.1
mode and the real session side: the CSMS lists a code as a KeyCode; a driver's code typed at
the site (a web start with ``key_code``) is taken from that entry and the transaction names it
KeyCode; a card whose UID has the same text is not the code (asked about as ISO14443, refused
by this CSMS); a code the list lacks is asked about as a KeyCode."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from edge_controller.domain.commands import Origin, StartSession
from edge_controller.domain.model import Token
from edge_controller.domain.sessions.state import Phase
from edge_controller.uplink.authorization import CsmsAuthorization
from tests.integration.ocpp.harness import (
    IDENTITY,
    FakeSite,
    auth_store,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.sessions_site import live_site
from tests.integration.ocpp.strict_peer import strict_peer

pytestmark = pytest.mark.integration
VERSIONS = [("2.0.1", "ocpp2.0.1"), ("2.1", "ocpp2.1")]
CODE = "12345678"  # also a card UID's text


def _asked(peer: Any) -> list[dict[str, str]]:
    return [c["params"]["idToken"] for c in peer.calls("Authorize")]


@pytest.mark.parametrize(("version", "protocol"), VERSIONS)
async def test_a_typed_key_code_is_authorised_as_a_key_code_and_never_as_a_card(
    tmp_path: Path, version: str, protocol: str
) -> None:
    csms = CsmsAuthorization()
    async with (
        strict_peer(auth_status="Invalid", protocols=protocol) as peer,
        live_site(tmp_path, csms=csms) as (site, outbox),
    ):
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=version)
        lists = auth_store(outbox)
        async with running_uplink(
            settings, cast(FakeSite, site), outbox, tmp_path, {"c1": 2},
            auth_lists=lists, authorization=csms,
        ) as uplink:  # fmt: skip
            await wait_for(lambda: uplink.links[IDENTITY].accepted)
            entry = {"idToken": {"idToken": CODE, "type": "KeyCode"},
                     "idTokenInfo": {"status": "Accepted"}}  # fmt: skip
            listed = {"versionNumber": 7, "updateType": "Full", "localAuthorizationList": [entry]}
            await peer.send(IDENTITY, "SendLocalList", listed)
            await wait_for(lambda: len(peer.answers("SendLocalList")) == 1)
            await site.plug("c1:1")
            typed = StartSession("c1:1", CODE, Origin.WEB, key_code=True)
            assert (await site.decide(typed)).ok
            assert site.manager.phase("c1:1") is Phase.ACTIVE
            await site.plug("c1:2")
            card = await site.manager.on_token(Token(CODE, extra={"source": "uid"}), "c1:2")
            assert not card.accepted and card.reason == "csms: Invalid"
            unknown = await site.decide(StartSession("c1:2", "5555", Origin.WEB, key_code=True))
            assert not unknown.ok and "csms: Invalid" in (unknown.error or "")
            assert site.manager.phase("c1:2") is Phase.WAIT_AUTH
            uplink.notify_outbox()
            await wait_for(lambda: len(peer.calls("TransactionEvent")) >= 1)
            while await outbox.backlog(IDENTITY):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        cached_code = await lists.cached("5555", key_code=True)
        cached_card = await lists.cached(CODE)
    assert peer.answers("SendLocalList")[0]["result"] == {"status": "Accepted"}
    assert _asked(peer) == [{"idToken": CODE, "type": "ISO14443"},
                            {"idToken": "5555", "type": "KeyCode"}]  # fmt: skip
    started = peer.calls("TransactionEvent")[0]["params"]
    assert started["eventType"] == "Started"
    assert started["idToken"] == {"idToken": CODE, "type": "KeyCode"}
    assert cached_code is not None and cached_code.token_type == "KeyCode"
    assert cached_card is not None and cached_card.token_type == "ISO14443"
    assert peer.invalid() == []
