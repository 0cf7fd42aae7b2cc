"""Modbus: framing, buses with a transaction scheduler, and profile-driven drivers."""
