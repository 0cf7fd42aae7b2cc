"""OCPP 1.6J uplink: the only package that speaks OCPP and opens websockets to a CSMS."""
