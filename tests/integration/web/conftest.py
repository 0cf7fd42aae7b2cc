"""Fixtures the web's integration tests share with other areas."""

from tests.integration.modbus.test_tcp_faults import peer  # noqa: F401 (a Modbus TCP peer)
