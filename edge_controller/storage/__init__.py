"""Durable state in one SQLite database: sessions, meter values, the uplink outbox,
authorization list and cache, uplink configuration values, connector availability.

The only package that opens SQLite. Open with ``await Database.open(path)``; build the stores
(``Outbox``, ``SessionStore``, ``AuthStore``, ``ConfigStore``) on the same ``Database``.
"""
