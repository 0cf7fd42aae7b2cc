"""The local authorization list (with its version) and the authorization cache."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus, matching
from edge_controller.storage.database import Database

_COLUMNS = "id_tag, status, expiry_at_s, parent_id_tag, token_type"
_UNTYPED = ""  # the column's value for an entry without a type (1.6)
Removal = str | tuple[str, str]
"""A token to take off the local list: a value (every entry of it, as 1.6 names tokens), or
a (value, OCPP 2.x type) pair (that entry only)."""


def _entry(row: sqlite3.Row) -> AuthEntry:
    return AuthEntry(row[0], AuthStatus(row[1]), row[2], row[3], row[4] or None)


def _params(entry: AuthEntry) -> tuple[str, str, float | None, str | None, str]:
    return (entry.id_tag, entry.status.value, entry.expiry_at_s, entry.parent_id_tag,
            entry.token_type or _UNTYPED)  # fmt: skip


def _removal(removal: Removal) -> tuple[str, str, str]:
    """The DELETE's parameters: value, then a type twice (an empty one: every type)."""
    value, kind = (removal, "") if isinstance(removal, str) else removal
    return value, kind, kind


class AuthStore:
    """Id tags are stored as given; callers normalise them (domain.tokens) first. An entry is
    a token's type and value: lookups take the entry ``matching`` picks for the token."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def local_list_version(self) -> int:
        """The list version the CSMS last sent (0: no list)."""

        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute("SELECT version FROM local_list_version")
            row = cursor.fetchone()
            return 0 if row is None else int(row[0])

        return await self._db.read(job)

    async def replace_local_list(self, version: int, entries: Iterable[AuthEntry]) -> None:
        """A full SendLocalList: the list becomes exactly ``entries``."""
        rows = [_params(e) for e in entries]

        def job(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM local_list")
            conn.executemany(f"INSERT INTO local_list ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)", rows)
            _set_version(conn, version)

        await self._db.write(job)

    async def update_local_list(
        self, version: int, upserts: Iterable[AuthEntry], removals: Iterable[Removal] = ()
    ) -> None:
        """A differential SendLocalList: add/replace ``upserts``, delete ``removals``."""
        rows = [_params(e) for e in upserts]
        gone = [_removal(r) for r in removals]

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany(
                f"INSERT INTO local_list ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(id_tag, token_type) DO UPDATE SET"
                " status = excluded.status, expiry_at_s = excluded.expiry_at_s,"
                " parent_id_tag = excluded.parent_id_tag",
                rows,
            )
            conn.executemany(
                "DELETE FROM local_list WHERE id_tag = ? AND (? = '' OR token_type = ?)", gone
            )
            _set_version(conn, version)

        await self._db.write(job)

    async def local_entry(self, id_tag: str, *, key_code: bool = False) -> AuthEntry | None:
        """The local list's entry for an id given without a type (or a key code)."""
        return await self.local_entry_for(Token(id_tag, key_code=key_code))

    async def local_entry_for(self, token: Token) -> AuthEntry | None:
        return matching(await self._all("local_list", token.id_tag), token)

    async def local_list(self) -> list[AuthEntry]:
        def job(conn: sqlite3.Connection) -> list[AuthEntry]:
            cursor = conn.execute(f"SELECT {_COLUMNS} FROM local_list ORDER BY id_tag, token_type")
            return [_entry(row) for row in cursor.fetchall()]

        return await self._db.read(job)

    async def cached(self, id_tag: str, *, key_code: bool = False) -> AuthEntry | None:
        return await self.cached_for(Token(id_tag, key_code=key_code))

    async def cached_for(self, token: Token) -> AuthEntry | None:
        return matching(await self._all("auth_cache", token.id_tag), token)

    async def cache_put(self, entry: AuthEntry, now_s: float) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO auth_cache ({_COLUMNS}, stored_at_s) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id_tag, token_type) DO UPDATE SET"
                " status = excluded.status, expiry_at_s = excluded.expiry_at_s,"
                " parent_id_tag = excluded.parent_id_tag, stored_at_s = excluded.stored_at_s",
                (*_params(entry), now_s),
            )

        await self._db.write(job)

    async def cache_clear(self) -> int:
        """ClearCache; returns how many entries went."""
        return await self._delete("DELETE FROM auth_cache", ())

    async def clear_cache(self) -> None:
        """ClearCache from the CSMS (the uplink's ``AuthCache`` role)."""
        await self.cache_clear()

    async def cache_prune(self, now_s: float) -> int:
        """Drop cache entries whose expiry has passed."""
        return await self._delete(
            "DELETE FROM auth_cache WHERE expiry_at_s IS NOT NULL AND expiry_at_s <= ?", (now_s,)
        )

    async def _delete(self, sql: str, params: tuple[float, ...]) -> int:
        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(sql, params)
            return max(cursor.rowcount, 0)

        return await self._db.write(job)

    async def _all(self, table: str, id_tag: str) -> list[AuthEntry]:
        """Every entry of ``id_tag``'s value in ``table``, whatever its type."""

        def job(conn: sqlite3.Connection) -> list[AuthEntry]:
            cursor = conn.execute(
                f"SELECT {_COLUMNS} FROM {table} WHERE id_tag = ? COLLATE NOCASE", (id_tag,)
            )
            return [_entry(row) for row in cursor.fetchall()]

        return await self._db.read(job)


def _set_version(conn: sqlite3.Connection, version: int) -> None:
    conn.execute(
        "INSERT INTO local_list_version VALUES (1, ?)"
        " ON CONFLICT(only_row) DO UPDATE SET version = excluded.version",
        (version,),
    )
