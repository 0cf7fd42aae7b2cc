"""OCPP uplink: the only package that speaks OCPP and opens websockets to a CSMS.

``service`` (``OcppUplink``: one reconnecting link per identity), ``session`` (one open
connection), ``rpc`` (the OCPP-J RPC loop on one websocket, for any version: ``dialect`` says
what differs between versions, ``schemas`` checks payloads with the official JSON schemas),
``handlers/`` (CSMS-initiated operations), ``outbox/`` (sending the durable outbox), ``v16/``
(what only OCPP 1.6J has). Of the ``ocpp`` library only public modules are used (a test checks
it): its schema files, 1.6 message classes and action names. The package exports nothing
itself: importing one of its small modules (``ports``, ``topology``) must not load the ``ocpp``
library on a site without OCPP.
"""
