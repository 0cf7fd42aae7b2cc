"""Durable state in one SQLite database: sessions, meter values, the uplink outbox
(``storage.outbox``), the authorization list and cache, reservations.

The only package that opens SQLite (migrations via ``PRAGMA user_version``). Open with
``await Database.open(path)``; build the stores (``Outbox``, ``SessionStore``, ``AuthStore``,
``ReservationStore``) on the same ``Database``.
"""

__all__ = []
