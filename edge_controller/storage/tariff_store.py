"""Tariffs with versions, which tariff each scope uses, and the log of every change.

A tariff is stored once per content: the same id with other prices is the next version (1, 2,
...), the same prices again are the same version. A scope is ``SITE`` (every connector) or a
connector reference (``charger`` or ``charger:n``). Newest wins: whoever assigned a scope last
(the config, a CSMS) decides its tariff; the config counts as assigning only when what it says
for a scope changed since it was last read, so a restart does not undo a CSMS's later tariff.
Every version stored and every assignment made or cleared is a row of ``tariff_changes`` with its
source, in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from edge_controller.storage.database import Database

SITE = "*"
CONFIG = "config"
DRIVER = "driver"  # the scope logged for a tariff given to one driver (by token)
ChangeKind = Literal["new_version", "assigned", "cleared"]


@dataclass(frozen=True, slots=True)
class StoredTariff:
    tariff_id: str
    version: int
    body: dict[str, Any]  # the shape of ``domain.pricing.codec``, without the version
    source: str  # who gave this version first


@dataclass(frozen=True, slots=True)
class Assignment:
    scope: str
    tariff_id: str
    version: int
    source: str
    assigned_at_s: float


@dataclass(frozen=True, slots=True)
class SessionSwitch:
    """A session's tariff changed at ``at_s`` to ``tariff`` (given by ``source``);
    ``session_at_s``: that moment on the session's own clock (None: stored before it was kept,
    taken as ``at_s``)."""

    at_s: float
    tariff: StoredTariff
    source: str
    session_at_s: float | None = None


@dataclass(frozen=True, slots=True)
class DriverTariff:
    id_tag: str  # upper case
    tariff_id: str
    version: int
    source: str
    given_at_s: float


@dataclass(frozen=True, slots=True)
class TariffChange:
    at_s: float
    scope: str
    tariff_id: str | None
    version: int | None
    source: str
    change: ChangeKind


def same_body(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return _canonical(a) == _canonical(b)


def _canonical(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _log(conn: sqlite3.Connection, change: TariffChange) -> TariffChange:
    conn.execute(
        "INSERT INTO tariff_changes (at_s, scope, tariff_id, version, source, change)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (change.at_s, change.scope, change.tariff_id, change.version, change.source,
         change.change),
    )  # fmt: skip
    return change


def store_version(
    conn: sqlite3.Connection, scope: str, body: Mapping[str, Any], source: str, at_s: float
) -> tuple[int, TariffChange | None]:
    """The version of ``body`` (its ``id``): the latest one if its content is the same, else a
    new one (logged for ``scope``, the scope it came for); the change when one was stored."""
    tariff_id = str(body["id"])
    row = conn.execute(
        "SELECT version, body FROM tariffs WHERE tariff_id = ? ORDER BY version DESC LIMIT 1",
        (tariff_id,),
    ).fetchone()
    if row is not None and same_body(json.loads(row[1]), body):
        return int(row[0]), None
    version = 1 if row is None else int(row[0]) + 1
    conn.execute(
        "INSERT INTO tariffs (tariff_id, version, body, source, stored_at_s)"
        " VALUES (?, ?, ?, ?, ?)",
        (tariff_id, version, _canonical(body), source, at_s),
    )
    return version, _log(conn, TariffChange(at_s, scope, tariff_id, version, source, "new_version"))


def _assign(
    conn: sqlite3.Connection, scope: str, tariff: tuple[str, int], source: str, at_s: float
) -> TariffChange | None:
    row = conn.execute(
        "SELECT tariff_id, version, source FROM tariff_assignments WHERE scope = ?", (scope,)
    ).fetchone()
    if row is not None and (row[0], int(row[1]), row[2]) == (*tariff, source):
        return None
    conn.execute(
        "INSERT OR REPLACE INTO tariff_assignments"
        " (scope, tariff_id, version, source, assigned_at_s) VALUES (?, ?, ?, ?, ?)",
        (scope, tariff[0], tariff[1], source, at_s),
    )
    return _log(conn, TariffChange(at_s, scope, tariff[0], tariff[1], source, "assigned"))


def _clear(conn: sqlite3.Connection, scope: str, source: str, at_s: float) -> TariffChange | None:
    row = conn.execute(
        "SELECT tariff_id, version FROM tariff_assignments WHERE scope = ?", (scope,)
    ).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM tariff_assignments WHERE scope = ?", (scope,))
    return _log(conn, TariffChange(at_s, scope, row[0], int(row[1]), source, "cleared"))


def _apply_config(
    conn: sqlite3.Connection, wanted: Mapping[str, Mapping[str, Any]], at_s: float
) -> list[TariffChange]:
    changes: list[TariffChange | None] = []
    seen = {
        str(r[0]): (str(r[1]), int(r[2]))
        for r in conn.execute("SELECT scope, tariff_id, version FROM tariff_config")
    }
    for scope, body in wanted.items():
        version, stored = store_version(conn, scope, body, CONFIG, at_s)
        changes.append(stored)
        tariff = (str(body["id"]), version)
        if seen.get(scope) != tariff:
            changes.append(_assign(conn, scope, tariff, CONFIG, at_s))
            conn.execute(
                "INSERT OR REPLACE INTO tariff_config (scope, tariff_id, version) VALUES (?, ?, ?)",
                (scope, *tariff),
            )
    for scope in seen.keys() - wanted.keys():
        source = conn.execute(
            "SELECT source FROM tariff_assignments WHERE scope = ?", (scope,)
        ).fetchone()
        if source is not None and source[0] == CONFIG:
            changes.append(_clear(conn, scope, CONFIG, at_s))
        conn.execute("DELETE FROM tariff_config WHERE scope = ?", (scope,))
    return [c for c in changes if c is not None]


class TariffStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def apply_config(
        self, wanted: Mapping[str, Mapping[str, Any]], at_s: float
    ) -> list[TariffChange]:
        """The config's tariffs (scope -> tariff JSON), in one transaction; the changes made."""
        return await self._db.write(lambda conn: _apply_config(conn, wanted, at_s))

    async def assign(
        self, scope: str, body: Mapping[str, Any], source: str, at_s: float
    ) -> list[TariffChange]:
        """A tariff given by ``source`` (e.g. a CSMS) for ``scope``: newest wins."""

        def job(conn: sqlite3.Connection) -> list[TariffChange]:
            version, stored = store_version(conn, scope, body, source, at_s)
            assigned = _assign(conn, scope, (str(body["id"]), version), source, at_s)
            return [c for c in (stored, assigned) if c is not None]

        return await self._db.write(job)

    async def clear(self, scope: str, source: str, at_s: float) -> list[TariffChange]:
        found = await self._db.write(lambda conn: _clear(conn, scope, source, at_s))
        return [] if found is None else [found]

    async def give_driver(
        self, id_tag: str, body: Mapping[str, Any] | None, source: str, at_s: float
    ) -> tuple[StoredTariff | None, list[TariffChange]]:
        """The tariff a driver (``id_tag``, any case) was given, stored as a version of its
        tariff and kept for them until a session of theirs starts (None: they have none now).
        The version kept, and the change when a new version was stored."""
        key = id_tag.upper()

        def job(conn: sqlite3.Connection) -> tuple[StoredTariff | None, list[TariffChange]]:
            conn.execute("DELETE FROM driver_tariffs WHERE id_tag = ?", (key,))
            if body is None:
                return None, []
            version, stored = store_version(conn, DRIVER, body, source, at_s)
            conn.execute(
                "INSERT INTO driver_tariffs (id_tag, tariff_id, version, source, given_at_s)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, str(body["id"]), version, source, at_s),
            )
            found = stored_tariff(conn, str(body["id"]), version)
            return found, [] if stored is None else [stored]

        return await self._db.write(job)

    async def drivers(self) -> dict[str, DriverTariff]:
        """Each driver's kept tariff (upper-case id tag). One a session of theirs started with
        since it was given is dropped here: it priced that session."""

        def job(conn: sqlite3.Connection) -> dict[str, DriverTariff]:
            conn.execute(
                "DELETE FROM driver_tariffs WHERE EXISTS (SELECT 1 FROM sessions AS s"
                " WHERE upper(s.id_tag) = driver_tariffs.id_tag"
                " AND s.start_at_s >= driver_tariffs.given_at_s)"
            )
            rows = conn.execute(
                "SELECT id_tag, tariff_id, version, source, given_at_s FROM driver_tariffs"
            ).fetchall()
            return {str(r[0]): DriverTariff(r[0], r[1], int(r[2]), r[3], r[4]) for r in rows}

        return await self._db.write(job)

    async def used_by_driver(self, id_tag: str) -> None:
        """A session of the driver started with their tariff: it is theirs no more."""
        key = id_tag.upper()
        await self._db.write(
            lambda conn: conn.execute("DELETE FROM driver_tariffs WHERE id_tag = ?", (key,))
        )

    async def change_session_tariff(
        self,
        local_id: int,
        body: Mapping[str, Any],
        source: str,
        at: tuple[float, float],
    ) -> tuple[StoredTariff, list[TariffChange]] | None:
        """From ``at`` (the site's time, and the same moment on the session's clock) the open
        session ``local_id`` is priced by ``body`` (stored as a version of its tariff, the
        change logged with the session): the version, and the change when a new version was
        stored. None: the session is not open."""
        at_s, session_at_s = at

        def job(conn: sqlite3.Connection) -> tuple[StoredTariff, list[TariffChange]] | None:
            row = conn.execute(
                "SELECT 1 FROM sessions WHERE local_id = ? AND stop_at_s IS NULL", (local_id,)
            ).fetchone()
            if row is None:
                return None
            version, stored = store_version(conn, f"session:{local_id}", body, source, at_s)
            conn.execute(
                "INSERT INTO session_tariff_changes (session_local_id, at_s, tariff_id, version,"
                " source, session_at_s) VALUES (?, ?, ?, ?, ?, ?)",
                (local_id, at_s, str(body["id"]), version, source, session_at_s),
            )
            found = stored_tariff(conn, str(body["id"]), version)
            assert found is not None
            return found, [] if stored is None else [stored]

        return await self._db.write(job)

    async def session_switches(self, local_id: int) -> list[SessionSwitch]:
        return await self._db.read(lambda conn: session_switches(conn, local_id))

    async def latest(self, tariff_id: str) -> StoredTariff | None:
        def job(conn: sqlite3.Connection) -> StoredTariff | None:
            row = conn.execute(
                "SELECT max(version) FROM tariffs WHERE tariff_id = ?", (tariff_id,)
            ).fetchone()
            return None if row[0] is None else stored_tariff(conn, tariff_id, int(row[0]))

        return await self._db.read(job)

    async def clear_to_config(
        self, scope: str, source: str, at_s: float, tariff_id: str | None = None
    ) -> list[TariffChange]:
        """Remove what ``scope`` was given (only tariff ``tariff_id``, when named): the
        config's tariff for it, if it has one, applies again. Both logged, one transaction."""

        def job(conn: sqlite3.Connection) -> list[TariffChange]:
            row = conn.execute(
                "SELECT tariff_id FROM tariff_assignments WHERE scope = ?", (scope,)
            ).fetchone()
            if row is None or (tariff_id is not None and row[0] != tariff_id):
                return []
            changes = [_clear(conn, scope, source, at_s)]
            config = conn.execute(
                "SELECT tariff_id, version FROM tariff_config WHERE scope = ?", (scope,)
            ).fetchone()
            if config is not None:
                changes.append(_assign(conn, scope, (config[0], int(config[1])), CONFIG, at_s))
            return [c for c in changes if c is not None]

        return await self._db.write(job)

    async def assignments(self) -> dict[str, Assignment]:
        def job(conn: sqlite3.Connection) -> dict[str, Assignment]:
            rows = conn.execute(
                "SELECT scope, tariff_id, version, source, assigned_at_s FROM tariff_assignments"
            )
            return {str(r[0]): Assignment(r[0], r[1], int(r[2]), r[3], r[4]) for r in rows}

        return await self._db.read(job)

    async def history(self, scope: str) -> list[Assignment]:
        """Every assignment ``scope`` had, newest first (the log keeps them all)."""

        def job(conn: sqlite3.Connection) -> list[Assignment]:
            rows = conn.execute(
                "SELECT scope, tariff_id, version, source, at_s FROM tariff_changes"
                " WHERE scope = ? AND change = 'assigned' ORDER BY id DESC",
                (scope,),
            )
            return [Assignment(r[0], r[1], int(r[2]), r[3], r[4]) for r in rows]

        return await self._db.read(job)

    async def tariff(self, tariff_id: str, version: int) -> StoredTariff | None:
        return await self._db.read(lambda conn: stored_tariff(conn, tariff_id, version))

    async def changes(self) -> list[TariffChange]:
        def job(conn: sqlite3.Connection) -> list[TariffChange]:
            rows = conn.execute(
                "SELECT at_s, scope, tariff_id, version, source, change FROM tariff_changes"
                " ORDER BY id"
            )
            return [TariffChange(*r) for r in rows]

        return await self._db.read(job)


def stored_tariff(conn: sqlite3.Connection, tariff_id: str, version: int) -> StoredTariff | None:
    row = conn.execute(
        "SELECT body, source FROM tariffs WHERE tariff_id = ? AND version = ?",
        (tariff_id, version),
    ).fetchone()
    if row is None:
        return None
    return StoredTariff(tariff_id, version, json.loads(row[0]), str(row[1]))


def session_switches(conn: sqlite3.Connection, local_id: int) -> list[SessionSwitch]:
    """Every change of a session's tariff, in the order made (a version not found is left
    out: the tariffs table keeps every version, so only a damaged database lacks one)."""
    rows = conn.execute(
        "SELECT at_s, tariff_id, version, source, session_at_s FROM session_tariff_changes"
        " WHERE session_local_id = ? ORDER BY id",
        (local_id,),
    ).fetchall()
    found = []
    for at_s, tariff_id, version, source, session_at_s in rows:
        stored = stored_tariff(conn, tariff_id, int(version))
        if stored is not None:
            on_session = None if session_at_s is None else float(session_at_s)
            found.append(SessionSwitch(float(at_s), stored, str(source), on_session))
    return found
