/**
 * The SQLite schema, one entry per version. A migration runs once, inside
 * the same transaction that records its version, so a crash mid-migration
 * leaves the previous version intact.
 */
export const migrations: ReadonlyArray<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      CREATE TABLE ledgers (
        name        TEXT PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL,
        settings    TEXT NOT NULL,
        wrapped_key BLOB NOT NULL
      ) STRICT;

      CREATE TABLE blocks (
        ledger_id     TEXT NOT NULL,
        seq           INTEGER NOT NULL,
        tx_id         TEXT NOT NULL,
        time          INTEGER NOT NULL,
        block_hash    BLOB NOT NULL,
        entries_hash  BLOB NOT NULL,
        previous_hash BLOB NOT NULL,
        body          BLOB NOT NULL,
        PRIMARY KEY (ledger_id, seq)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE revisions (
        ledger_id TEXT NOT NULL,
        doc_id    TEXT NOT NULL,
        version   INTEGER NOT NULL,
        table_id  TEXT NOT NULL,
        block_seq INTEGER NOT NULL,
        tx_time   INTEGER NOT NULL,
        tx_id     TEXT NOT NULL,
        hash      BLOB NOT NULL,
        payload   BLOB NOT NULL,
        deleted   INTEGER NOT NULL,
        block_pos INTEGER NOT NULL,
        PRIMARY KEY (ledger_id, doc_id, version)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX revisions_by_block ON revisions (ledger_id, block_seq, block_pos);
      CREATE INDEX revisions_by_table ON revisions (ledger_id, table_id, doc_id, version);

      -- The current version of each document.
      CREATE TABLE documents (
        ledger_id TEXT NOT NULL,
        doc_id    TEXT NOT NULL,
        table_id  TEXT NOT NULL,
        version   INTEGER NOT NULL,
        deleted   INTEGER NOT NULL,
        PRIMARY KEY (ledger_id, doc_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX documents_by_table ON documents (ledger_id, table_id, doc_id);

      CREATE TABLE index_entries (
        ledger_id TEXT NOT NULL,
        index_id  TEXT NOT NULL,
        key_mac   BLOB NOT NULL,
        doc_id    TEXT NOT NULL,
        PRIMARY KEY (ledger_id, index_id, key_mac, doc_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX index_entries_by_doc ON index_entries (ledger_id, doc_id);

      CREATE TABLE merkle_nodes (
        ledger_id TEXT NOT NULL,
        level     INTEGER NOT NULL,
        idx       INTEGER NOT NULL,
        hash      BLOB NOT NULL,
        PRIMARY KEY (ledger_id, level, idx)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE catalog (
        ledger_id TEXT NOT NULL,
        object_id TEXT NOT NULL,
        kind      TEXT NOT NULL,
        block_seq INTEGER NOT NULL,
        payload   BLOB NOT NULL,
        PRIMARY KEY (ledger_id, object_id)
      ) STRICT, WITHOUT ROWID;
    `,
  },
];

export const latestSchemaVersion = migrations[migrations.length - 1]!.version;
