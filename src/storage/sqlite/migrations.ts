/**
 * The SQLite schema, one entry per version. A migration runs once, inside
 * the same transaction that records its version, so a crash mid-migration
 * leaves the previous version intact.
 */
export const migrations: ReadonlyArray<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      -- Every other table refers to a ledger by its small integer number, which
      -- keeps their keys short; the number is never reused.
      CREATE TABLE ledgers (
        no          INTEGER PRIMARY KEY AUTOINCREMENT,
        name        TEXT NOT NULL UNIQUE,
        id          TEXT NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL,
        settings    TEXT NOT NULL,
        wrapped_key BLOB NOT NULL
      );

      CREATE TABLE blocks (
        ledger        INTEGER NOT NULL,
        seq           INTEGER NOT NULL,
        tx_id         TEXT NOT NULL,
        time          INTEGER NOT NULL,
        block_hash    BLOB NOT NULL,
        entries_hash  BLOB NOT NULL,
        previous_hash BLOB NOT NULL,
        body          BLOB NOT NULL,
        PRIMARY KEY (ledger, seq)
      ) STRICT, WITHOUT ROWID;

      -- The current revision of a document is its highest version.
      CREATE TABLE revisions (
        ledger    INTEGER NOT NULL,
        doc_id    TEXT NOT NULL,
        version   INTEGER NOT NULL,
        table_id  TEXT NOT NULL,
        block_seq INTEGER NOT NULL,
        block_pos INTEGER NOT NULL,
        tx_time   INTEGER NOT NULL,
        tx_id     TEXT NOT NULL,
        deleted   INTEGER NOT NULL,
        hash      BLOB NOT NULL,
        payload   BLOB NOT NULL,
        PRIMARY KEY (ledger, doc_id, version)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX revisions_by_block ON revisions (ledger, block_seq, block_pos);
      CREATE INDEX revisions_by_table ON revisions (ledger, table_id, doc_id, version);

      -- Entries of each document's current revision; a new revision replaces them.
      CREATE TABLE index_entries (
        ledger   INTEGER NOT NULL,
        index_id TEXT NOT NULL,
        key_mac  BLOB NOT NULL,
        doc_id   TEXT NOT NULL,
        version  INTEGER NOT NULL,
        PRIMARY KEY (ledger, index_id, key_mac, doc_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX index_entries_by_doc ON index_entries (ledger, doc_id);

      -- Complete subtrees of the block tree above the leaves; leaves are blocks.block_hash.
      CREATE TABLE merkle_nodes (
        ledger INTEGER NOT NULL,
        level  INTEGER NOT NULL,
        idx    INTEGER NOT NULL,
        hash   BLOB NOT NULL,
        PRIMARY KEY (ledger, level, idx)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE catalog (
        ledger    INTEGER NOT NULL,
        object_id TEXT NOT NULL,
        kind      TEXT NOT NULL,
        block_seq INTEGER NOT NULL,
        payload   BLOB NOT NULL,
        PRIMARY KEY (ledger, object_id)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    sql: `
      -- Service state (KMS keys, aliases, grants, identities) as versioned
      -- records; services encode and, where needed, encrypt the values.
      CREATE TABLE state (
        namespace TEXT NOT NULL,
        key       TEXT NOT NULL,
        version   INTEGER NOT NULL,
        value     BLOB NOT NULL,
        PRIMARY KEY (namespace, key)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    sql: `
      -- Index entries that a block removed from the documents it changed, so
      -- that the changes a block made to index keys can be listed later.
      CREATE TABLE removed_index_entries (
        ledger    INTEGER NOT NULL,
        block_seq INTEGER NOT NULL,
        index_id  TEXT NOT NULL,
        key_mac   BLOB NOT NULL
      ) STRICT;
      CREATE INDEX removed_index_entries_by_block ON removed_index_entries (ledger, block_seq);
      CREATE INDEX catalog_by_block ON catalog (ledger, block_seq);
    `,
  },
  {
    version: 4,
    sql: `
      -- Data key generations. The ledger's current key seals new writes; during
      -- a rekey the retiring key still opens what it sealed. Index entries
      -- record the generation whose MAC key made them, so a rekey can find
      -- the entries it has yet to MAC again. Existing rows are generation 0.
      ALTER TABLE ledgers ADD COLUMN key_generation INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE ledgers ADD COLUMN retiring_key BLOB;
      ALTER TABLE ledgers ADD COLUMN retiring_generation INTEGER;
      ALTER TABLE index_entries ADD COLUMN key_gen INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE removed_index_entries ADD COLUMN key_gen INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX index_entries_by_generation ON index_entries (ledger, key_gen, doc_id);
    `,
  },
  {
    version: 5,
    sql: `
      -- The block that redacted a revision's data, which changesSince lists
      -- as PostgreSQL's store does. Revisions redacted before this version
      -- have none.
      ALTER TABLE revisions ADD COLUMN redacted_seq INTEGER;
      CREATE INDEX revisions_by_redaction ON revisions (ledger, redacted_seq)
        WHERE redacted_seq IS NOT NULL;
    `,
  },
];

export const latestSchemaVersion = migrations[migrations.length - 1]!.version;
