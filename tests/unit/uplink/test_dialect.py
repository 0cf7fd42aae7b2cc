"""Which OCPP version a connection speaks follows from the subprotocol of its handshake."""

from __future__ import annotations

import pytest

from edge_controller.uplink.dialect import (
    OCPP16,
    OCPP21,
    OCPP201,
    Dialect,
    Fault,
    UnknownSubprotocol,
    negotiated,
)


def test_the_subprotocol_names_the_version() -> None:
    assert negotiated("ocpp1.6") is OCPP16
    assert negotiated("ocpp2.0.1") is OCPP201
    assert negotiated("ocpp2.1") is OCPP21


def test_a_csms_that_chose_no_subprotocol_took_the_only_one_offered() -> None:
    assert negotiated(None) is OCPP16


def test_an_unknown_subprotocol_is_a_failed_connection_not_a_guess() -> None:
    with pytest.raises(UnknownSubprotocol) as error:
        negotiated("ocpp2.0")
    assert isinstance(error.value, ConnectionError)  # the uplink reconnects with backoff


@pytest.mark.parametrize("dialect", [OCPP16, OCPP201, OCPP21])
def test_every_fault_has_a_code_in_every_version(dialect: Dialect) -> None:
    codes = [dialect.code(f) for f in Fault]  # KeyError: a fault the version cannot spell
    assert all(code.isalpha() and code[0].isupper() for code in codes)
