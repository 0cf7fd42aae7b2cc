"""OCPP uplink: the only package that speaks OCPP and opens websockets to a CSMS.

``service`` (``OcppUplink``: one reconnecting link per identity), ``session`` (one open
connection), ``handlers/`` (CSMS-initiated operations), ``outbox/`` (sending the durable outbox),
``v16/`` (what only OCPP 1.6J has). The package exports nothing itself: importing one of its
small modules (``ports``, ``topology``) must not load the ``ocpp`` library on a site without
OCPP.
"""
