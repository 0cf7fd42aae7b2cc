"""What only OCPP 2.0.1 and 2.1 have: the station's messages (``station``), the outbox's events
as TransactionEvents (``render``) and the connection's life (``session``). 2.1 shares all of it;
the schemas of the connection's version check every payload either way.

The topology is 1.6's: each identity's connectors, numbered from 1, are its EVSEs (``evse.id``),
each with one connector (``connectorId`` 1).
"""
