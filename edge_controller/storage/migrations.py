"""Forward-only schema migrations, tracked with ``PRAGMA user_version``.

Each entry upgrades the schema by exactly one version. Entries are never edited once released:
a change is a new entry appended at the end, so a database from any earlier release upgrades by
running every step it has not seen yet.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from edge_controller.storage.errors import SchemaTooNew
from edge_controller.storage.outbox.from_ocpp16 import migrate_outbox
from edge_controller.storage.outbox.parked_security import requeue_parked_security_events

Step = str | Callable[[sqlite3.Connection], None]
"""A SQL script, or a function run inside the step's transaction (a data migration)."""

_V1_SESSIONS_AND_OUTBOX = """
CREATE TABLE sessions (
    local_id INTEGER PRIMARY KEY AUTOINCREMENT,
    connector_id TEXT NOT NULL,
    id_tag TEXT NOT NULL,
    parent_id_tag TEXT,
    start_at_s REAL NOT NULL,
    meter_start_wh INTEGER NOT NULL,
    last_meter_wh INTEGER NOT NULL,
    last_meter_at_s REAL NOT NULL,
    stop_at_s REAL,
    meter_stop_wh INTEGER,
    stop_reason TEXT,
    stop_id_tag TEXT,
    source TEXT NOT NULL DEFAULT 'local'
);
CREATE UNIQUE INDEX sessions_open_per_connector ON sessions(connector_id) WHERE stop_at_s IS NULL;
CREATE TABLE meter_values (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_local_id INTEGER NOT NULL REFERENCES sessions(local_id),
    at_s REAL NOT NULL,
    energy_wh INTEGER NOT NULL,
    power_w REAL,
    context TEXT NOT NULL
);
CREATE INDEX meter_values_by_session ON meter_values(session_local_id, at_s);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    identity TEXT NOT NULL,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'other',
    session_local_id INTEGER,
    created_at_s REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'acked', 'parked')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_attempt_at_s REAL,
    done_at_s REAL
);
CREATE INDEX outbox_pending ON outbox(identity, seq) WHERE state = 'pending';
CREATE INDEX outbox_done ON outbox(done_at_s) WHERE state = 'acked';
CREATE TABLE transaction_ids (
    session_local_id INTEGER PRIMARY KEY,
    remote_transaction_id INTEGER NOT NULL
);
CREATE TABLE outbox_stats (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

_V2_AUTHORIZATION_AND_CONFIG = """
CREATE TABLE local_list (
    id_tag TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expiry_at_s REAL,
    parent_id_tag TEXT
);
CREATE TABLE local_list_version (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    version INTEGER NOT NULL
);
CREATE TABLE auth_cache (
    id_tag TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expiry_at_s REAL,
    parent_id_tag TEXT,
    stored_at_s REAL NOT NULL
);
CREATE TABLE config_values (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at_s REAL NOT NULL
);
CREATE TABLE connector_availability (
    connector_id TEXT PRIMARY KEY,
    available INTEGER NOT NULL,
    updated_at_s REAL NOT NULL
);
"""

_V3_SESSION_FLAGS = """
ALTER TABLE sessions ADD COLUMN authorized_offline INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN energy_cap_wh INTEGER;
"""

_V4_RESERVATIONS = """
CREATE TABLE reservations (
    reservation_id INTEGER PRIMARY KEY,
    connector_id TEXT NOT NULL UNIQUE,
    id_tag TEXT NOT NULL,
    parent_id_tag TEXT,
    expiry_at_s REAL NOT NULL,
    created_at_s REAL NOT NULL
);
"""

# The uplink keeps its configuration values and availability in a file per identity
# (``uplink.state_file``); these two tables were never read or written by a release.
_V5_DROP_UNUSED_CONFIG_TABLES = """
DROP TABLE config_values;
DROP TABLE connector_availability;
"""

# Prices: every version of every tariff (JSON in the shape of ``domain.pricing.codec``), which
# tariff each scope uses ('*' the site, or a connector), what the config gave last (so a tariff a
# CSMS sets later is not undone by a restart), the log of every change with its source; each
# session's tariff and its priced cost (amounts in the currency's minor units).
_V6_TARIFFS_AND_COSTS = """
CREATE TABLE tariffs (
    tariff_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    body TEXT NOT NULL,
    source TEXT NOT NULL,
    stored_at_s REAL NOT NULL,
    PRIMARY KEY (tariff_id, version)
);
CREATE TABLE tariff_assignments (
    scope TEXT PRIMARY KEY,
    tariff_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    assigned_at_s REAL NOT NULL,
    FOREIGN KEY (tariff_id, version) REFERENCES tariffs(tariff_id, version)
);
CREATE TABLE tariff_config (
    scope TEXT PRIMARY KEY,
    tariff_id TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE tariff_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_s REAL NOT NULL,
    scope TEXT NOT NULL,
    tariff_id TEXT,
    version INTEGER,
    source TEXT NOT NULL,
    change TEXT NOT NULL CHECK (change IN ('new_version', 'assigned', 'cleared'))
);
ALTER TABLE sessions ADD COLUMN tariff_id TEXT;
ALTER TABLE sessions ADD COLUMN tariff_version INTEGER;
ALTER TABLE sessions ADD COLUMN tariff_source TEXT;
CREATE TABLE session_costs (
    session_local_id INTEGER PRIMARY KEY REFERENCES sessions(local_id),
    currency TEXT NOT NULL,
    total_excl_tax_minor INTEGER NOT NULL,
    total_incl_tax_minor INTEGER NOT NULL,
    breakdown TEXT NOT NULL,
    priced_at_s REAL NOT NULL
);
CREATE INDEX sessions_by_start ON sessions(start_at_s);
"""

# Problem reports from the site display: stored before the reporter gets its reference.
_V7_PROBLEM_REPORTS = """
CREATE TABLE problem_reports (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id TEXT NOT NULL UNIQUE,
    connector_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    filed_at_s REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
    note TEXT,
    changed_at_s REAL
);
CREATE INDEX problem_reports_open ON problem_reports(state) WHERE state != 'resolved';
"""

# Card payments: one row per approved pre-authorisation, from approval to capture or reversal.
_PAYMENTS = """
CREATE TABLE payments (
    reference TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    authorised_minor INTEGER NOT NULL CHECK (authorised_minor > 0),
    card_name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (
        state IN ('authorised', 'started', 'capturing', 'settled', 'reversed', 'failed')
    ),
    session_local_id INTEGER UNIQUE REFERENCES sessions(local_id),
    settled_minor INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    authorised_at_s REAL NOT NULL,
    changed_at_s REAL NOT NULL
);
CREATE INDEX payments_open ON payments(state) WHERE state NOT IN ('settled', 'reversed', 'failed');
"""

# Payments keyed by terminal and reference (two terminals may print the same receipt and trace
# numbers); each has the token its session started with and the receipt lines the terminal
# printed. Rows of the first payments release keep their reference as their token.
_PAYMENTS_BY_TERMINAL = """
CREATE TABLE payments_by_terminal (
    terminal_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    connector_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    authorised_minor INTEGER NOT NULL CHECK (authorised_minor > 0),
    card_name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (
        state IN ('authorised', 'started', 'capturing', 'settled', 'reversed', 'failed')
    ),
    session_local_id INTEGER UNIQUE REFERENCES sessions(local_id),
    settled_minor INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    receipt_lines TEXT NOT NULL DEFAULT '[]',
    authorised_at_s REAL NOT NULL,
    changed_at_s REAL NOT NULL,
    PRIMARY KEY (terminal_id, reference)
);
INSERT INTO payments_by_terminal (terminal_id, reference, token, connector_id, currency,
    authorised_minor, card_name, state, session_local_id, settled_minor, attempts, reason,
    authorised_at_s, changed_at_s)
SELECT terminal_id, reference, reference, connector_id, currency, authorised_minor, card_name,
    state, session_local_id, settled_minor, attempts, reason, authorised_at_s, changed_at_s
FROM payments;
DROP TABLE payments;
ALTER TABLE payments_by_terminal RENAME TO payments;
CREATE INDEX payments_open ON payments(state) WHERE state NOT IN ('settled', 'reversed', 'failed');
"""

# What a card terminal showed the card holder during its payment (intermediate status).
_PAYMENT_STATUS_TEXTS = "ALTER TABLE payments ADD COLUMN status_texts TEXT NOT NULL DEFAULT '[]';"

# A pre-authorisation about to be asked for (06 22): kept until its approval is stored or it
# is declined, so a crash in between leaves a trace for the operator ('unknown' outcome).
_PAYMENT_INTENTS = """
CREATE TABLE payment_intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'authorising' CHECK (state IN ('authorising', 'unknown')),
    at_s REAL NOT NULL
);
"""

# What the CSMS allowed a transaction (2.1 TransactionLimit), kept so a restart still ends the
# session there; ``body`` is ``storage.limits_store``'s JSON.
_TRANSACTION_LIMITS = """
CREATE TABLE transaction_limits (
    session_local_id INTEGER PRIMARY KEY REFERENCES sessions(local_id),
    body TEXT NOT NULL,
    set_at_s REAL NOT NULL
);
"""

# The tariff a CSMS gave one driver with their authorisation (2.1 AuthorizeResponse.tariff),
# kept until a session of theirs starts with it, so a restart in between still prices it.
_DRIVER_TARIFFS = """
CREATE TABLE driver_tariffs (
    id_tag TEXT PRIMARY KEY,
    tariff_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    given_at_s REAL NOT NULL
);
"""

# Every acknowledgement, resolution and note on a problem report, kept (the report's row holds
# only the last one); the last one of each report so far is its first entry.
_PROBLEM_NOTES = """
CREATE TABLE problem_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number INTEGER NOT NULL REFERENCES problem_reports(number),
    action TEXT NOT NULL CHECK (action IN ('acknowledged', 'resolved', 'noted')),
    changed_by TEXT NOT NULL,
    at_s REAL NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX problem_notes_by_report ON problem_notes(number, id);
INSERT INTO problem_notes (number, action, changed_by, at_s, note)
SELECT number, state, changed_by, changed_at_s, COALESCE(note, '') FROM problem_reports
WHERE changed_by IS NOT NULL AND changed_at_s IS NOT NULL AND state != 'open'
ORDER BY changed_at_s, number;
"""

# A running session's tariff changed (2.1 ChangeTransactionTariff): from ``at_s`` the tariff
# version named here prices it; the session's own tariff columns keep the one it started with.
_SESSION_TARIFF_CHANGES = """
CREATE TABLE session_tariff_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_local_id INTEGER NOT NULL REFERENCES sessions(local_id),
    at_s REAL NOT NULL,
    tariff_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX session_tariff_changes_by_session ON session_tariff_changes(session_local_id, id);
"""

# Transactions begun at a plug-in before any authorisation (OCPP 2.x TxStartPoint EVConnected):
# open until the session that takes their local id joins them, or they end unjoined.
_PLUG_TRANSACTIONS = """
CREATE TABLE plug_transactions (
    local_id INTEGER PRIMARY KEY,
    connector_id TEXT NOT NULL,
    plugged_at_s REAL NOT NULL,
    closed_at_s REAL
);
CREATE UNIQUE INDEX plug_transactions_open ON plug_transactions(connector_id)
    WHERE closed_at_s IS NULL;
"""

# The identity a transaction's events go to, kept with it while it is open: its end goes
# there also once its earlier events are pruned from the outbox. Open ones take it from their
# events still kept.
PLUG_IDENTITY = """
ALTER TABLE plug_transactions ADD COLUMN identity TEXT;
UPDATE plug_transactions SET identity = (
    SELECT o.identity FROM outbox AS o WHERE o.session_local_id = plug_transactions.local_id
    ORDER BY o.seq LIMIT 1
) WHERE closed_at_s IS NULL;
"""

# A list or cache entry is its token's type and value (OCPP 2.x): a KeyCode "1234" is not the
# card "1234". Entries kept so far had no type: they stay, untyped ('': matched as 1.6 does).
_TYPED_AUTH_ENTRIES = """
CREATE TABLE local_list_typed (
    id_tag TEXT NOT NULL,
    token_type TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    expiry_at_s REAL,
    parent_id_tag TEXT,
    PRIMARY KEY (id_tag, token_type)
);
INSERT INTO local_list_typed (id_tag, status, expiry_at_s, parent_id_tag)
SELECT id_tag, status, expiry_at_s, parent_id_tag FROM local_list;
DROP TABLE local_list;
ALTER TABLE local_list_typed RENAME TO local_list;
CREATE TABLE auth_cache_typed (
    id_tag TEXT NOT NULL,
    token_type TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    expiry_at_s REAL,
    parent_id_tag TEXT,
    stored_at_s REAL NOT NULL,
    PRIMARY KEY (id_tag, token_type)
);
INSERT INTO auth_cache_typed (id_tag, status, expiry_at_s, parent_id_tag, stored_at_s)
SELECT id_tag, status, expiry_at_s, parent_id_tag, stored_at_s FROM auth_cache;
DROP TABLE auth_cache;
ALTER TABLE auth_cache_typed RENAME TO auth_cache;
"""

# What each child of a parent gateway last said it falls back to (its own safe budget before it
# hears a parent, and then): a parent that restarts counts it as before until it reports again.
_GATEWAY_CHILDREN = """
CREATE TABLE gateway_children (
    child_id TEXT PRIMARY KEY,
    own_safe_a REAL NOT NULL,
    fallback_a REAL,
    reported_at_s REAL NOT NULL
);
"""

MIGRATIONS: tuple[Step, ...] = (
    _V1_SESSIONS_AND_OUTBOX,
    _V2_AUTHORIZATION_AND_CONFIG,
    _V3_SESSION_FLAGS,
    _V4_RESERVATIONS,
    _V5_DROP_UNUSED_CONFIG_TABLES,
    _V6_TARIFFS_AND_COSTS,
    _V7_PROBLEM_REPORTS,
    # The outbox stores events instead of OCPP 1.6 messages; pending rows are converted.
    migrate_outbox,
    # A message's place in its session (OCPP 2.x seqNo) is counted with this index.
    "CREATE INDEX outbox_by_session ON outbox(session_local_id, seq);",
    _PAYMENTS,
    _PAYMENTS_BY_TERMINAL,
    _PAYMENT_STATUS_TEXTS,
    # Who acknowledged or resolved a problem report (its note and time have columns since v7).
    "ALTER TABLE problem_reports ADD COLUMN changed_by TEXT;",
    _PAYMENT_INTENTS,
    _TRANSACTION_LIMITS,
    # Security events parked on 1.6 before it sent them are sendable now: back in line.
    requeue_parked_security_events,
    _DRIVER_TARIFFS,
    _PROBLEM_NOTES,
    _SESSION_TARIFF_CHANGES,
    # Where a change falls on the session's own clock (later than at_s after a clock step back).
    "ALTER TABLE session_tariff_changes ADD COLUMN session_at_s REAL;",
    _PLUG_TRANSACTIONS,
    _TYPED_AUTH_ENTRIES,
    # 1: begun at an authorisation before the plug-in (TxStartPoint Authorized), 0: at a plug-in.
    "ALTER TABLE plug_transactions ADD COLUMN authorized INTEGER NOT NULL DEFAULT 0;",
    # 1: a session's transaction going on after it (TxStopPoint EVConnected or Authorized alone).
    "ALTER TABLE plug_transactions ADD COLUMN after_session INTEGER NOT NULL DEFAULT 0;",
    PLUG_IDENTITY,
    _GATEWAY_CHILDREN,
    # 27: what a child's chargers draw on their fail-safe currents (a JSON list per grid phase).
    "ALTER TABLE gateway_children ADD COLUMN failsafe_a TEXT;",
)
LATEST_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST_VERSION) -> int:
    """Upgrade ``conn`` to ``target``, one committed step at a time; returns the new version.

    Each step and its version bump share one transaction, so a crash mid-migration leaves the
    database at the previous version, never in between.
    """
    current = schema_version(conn)
    if current > LATEST_VERSION:
        raise SchemaTooNew(
            f"database schema version {current} is newer than this release knows "
            f"({LATEST_VERSION}); refusing to open it"
        )
    for version in range(current + 1, target + 1):
        step = MIGRATIONS[version - 1]
        try:
            if isinstance(step, str):
                # executescript commits first, so BEGIN/COMMIT go inside the script itself.
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{step}\nPRAGMA user_version = {version};\nCOMMIT;"
                )
            else:
                conn.execute("BEGIN IMMEDIATE")
                step(conn)
                conn.execute(f"PRAGMA user_version = {version}")
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return schema_version(conn)
