"""The selftest's CSMS probe against the bench CSMS with real TLS: the websocket opens with
the security profile, the certificate's end is read, the clock difference comes from the
handshake; a wrong key and an untrusted certificate are named."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge_controller.sim.csms import BenchCsms
from edge_controller.uplink.probe import probe_csms
from tests.integration.ocpp.harness import IDENTITY, settings_for
from tests.integration.ocpp.test_security import PASSWORD, _server_tls, csms_with, pki

pytestmark = pytest.mark.integration
__all__ = ["pki"]  # the certificates fixture, shared with the security profile tests


async def test_profile_2_opens_and_reads_the_certificate_and_the_clock(pki: Path) -> None:
    async with csms_with(BenchCsms(), _server_tls(pki, False), PASSWORD) as port:
        settings = settings_for(
            f"wss://127.0.0.1:{port}",
            security_profile=2,
            password_file=pki / "password",
            ca_file=pki / "ca.pem",
        )
        probe = await probe_csms(settings, IDENTITY)
    assert probe.error is None
    assert probe.certificate_expires_s is not None
    # The test certificates are made for two days.
    days_left = (probe.certificate_expires_s - time.time()) / 86400
    assert 1.5 < days_left <= 2.01
    assert probe.server_time_s is not None and abs(probe.server_time_s - time.time()) < 5


async def test_an_untrusted_certificate_is_named(pki: Path) -> None:
    async with csms_with(BenchCsms(), _server_tls(pki, False), PASSWORD) as port:
        settings = settings_for(
            f"wss://127.0.0.1:{port}",
            security_profile=2,
            password_file=pki / "password",
            ca_file=pki / "other_ca.pem",
        )
        probe = await probe_csms(settings, IDENTITY)
    assert probe.error is not None and probe.error.startswith("certificate not trusted")


async def test_a_wrong_key_is_named(pki: Path) -> None:
    async with csms_with(BenchCsms(), None, PASSWORD) as port:
        settings = settings_for(
            f"ws://127.0.0.1:{port}", security_profile=1, password="wrong-key-0123456789"
        )
        probe = await probe_csms(settings, IDENTITY)
    assert probe.error == "the CSMS refused the connection (HTTP 401)"
