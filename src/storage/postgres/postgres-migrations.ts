/**
 * The PostgreSQL schema, one entry per version. Each migration runs once, in
 * the transaction that records its version, under an advisory lock, so that
 * several processes starting at the same moment apply it exactly once.
 *
 * The tables mirror the SQLite store's. Integers that hold sequence numbers
 * and epoch milliseconds are `bigint`; the store reads them back as numbers,
 * which is exact below 2^53.
 */
export const postgresMigrations: ReadonlyArray<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      -- Every other table refers to a ledger by its small integer number, which
      -- keeps their keys short; the number is never reused.
      CREATE TABLE ledgers (
        no          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name        text NOT NULL UNIQUE,
        id          text NOT NULL UNIQUE,
        created_at  bigint NOT NULL,
        settings    text NOT NULL,
        wrapped_key bytea NOT NULL
      );

      CREATE TABLE blocks (
        ledger        integer NOT NULL,
        seq           bigint NOT NULL,
        tx_id         text NOT NULL,
        time          bigint NOT NULL,
        block_hash    bytea NOT NULL,
        entries_hash  bytea NOT NULL,
        previous_hash bytea NOT NULL,
        body          bytea NOT NULL,
        PRIMARY KEY (ledger, seq)
      );

      -- The current revision of a document is its highest version.
      CREATE TABLE revisions (
        ledger    integer NOT NULL,
        doc_id    text NOT NULL,
        version   integer NOT NULL,
        table_id  text NOT NULL,
        block_seq bigint NOT NULL,
        block_pos integer NOT NULL,
        tx_time   bigint NOT NULL,
        tx_id     text NOT NULL,
        deleted   boolean NOT NULL,
        hash      bytea NOT NULL,
        payload   bytea NOT NULL,
        PRIMARY KEY (ledger, doc_id, version)
      );
      CREATE INDEX revisions_by_block ON revisions (ledger, block_seq, block_pos);
      CREATE INDEX revisions_by_table ON revisions (ledger, table_id, doc_id, version);

      -- Entries of each document's current revision; a new revision replaces them.
      CREATE TABLE index_entries (
        ledger   integer NOT NULL,
        index_id text NOT NULL,
        key_mac  bytea NOT NULL,
        doc_id   text NOT NULL,
        version  integer NOT NULL,
        PRIMARY KEY (ledger, index_id, key_mac, doc_id)
      );
      CREATE INDEX index_entries_by_doc ON index_entries (ledger, doc_id);

      -- Complete subtrees of the block tree above the leaves; leaves are blocks.block_hash.
      CREATE TABLE merkle_nodes (
        ledger integer NOT NULL,
        level  integer NOT NULL,
        idx    bigint NOT NULL,
        hash   bytea NOT NULL,
        PRIMARY KEY (ledger, level, idx)
      );

      CREATE TABLE catalog (
        ledger    integer NOT NULL,
        object_id text NOT NULL,
        kind      text NOT NULL,
        block_seq bigint NOT NULL,
        payload   bytea NOT NULL,
        PRIMARY KEY (ledger, object_id)
      );
      CREATE INDEX catalog_by_block ON catalog (ledger, block_seq);

      -- Index entries that a block removed from the documents it changed, so
      -- that another process sharing the ledger can tell which index keys the
      -- block changed.
      CREATE TABLE removed_index_entries (
        ledger    integer NOT NULL,
        block_seq bigint NOT NULL,
        index_id  text NOT NULL,
        key_mac   bytea NOT NULL
      );
      CREATE INDEX removed_index_entries_by_block ON removed_index_entries (ledger, block_seq);

      -- Service state (KMS keys, aliases, grants, identities) as versioned
      -- records; services encode and, where needed, encrypt the values.
      CREATE TABLE state (
        namespace text NOT NULL,
        key       text NOT NULL,
        version   integer NOT NULL,
        value     bytea NOT NULL,
        PRIMARY KEY (namespace, key)
      );
    `,
  },
  {
    version: 2,
    sql: `
      -- Data key generations. The ledger's current key seals new writes; during
      -- a rekey the retiring key still opens what it sealed. Index entries
      -- record the generation whose MAC key made them, so a rekey can find
      -- the entries it has yet to MAC again. Existing rows are generation 0.
      ALTER TABLE ledgers ADD COLUMN key_generation bigint NOT NULL DEFAULT 0;
      ALTER TABLE ledgers ADD COLUMN retiring_key bytea;
      ALTER TABLE ledgers ADD COLUMN retiring_generation bigint;
      ALTER TABLE index_entries ADD COLUMN key_gen bigint NOT NULL DEFAULT 0;
      ALTER TABLE removed_index_entries ADD COLUMN key_gen bigint NOT NULL DEFAULT 0;
      CREATE INDEX index_entries_by_generation ON index_entries (ledger, key_gen, doc_id);
    `,
  },
  {
    version: 3,
    sql: `
      -- The block that redacted a revision's data, so that another process
      -- sharing the ledger can tell which documents a block's redaction
      -- changed. Revisions redacted before this version have none.
      ALTER TABLE revisions ADD COLUMN redacted_seq bigint;
      CREATE INDEX revisions_by_redaction ON revisions (ledger, redacted_seq)
        WHERE redacted_seq IS NOT NULL;
    `,
  },
];

export const latestPostgresSchemaVersion =
  postgresMigrations[postgresMigrations.length - 1]!.version;
