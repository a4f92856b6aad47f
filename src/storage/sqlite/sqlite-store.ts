import Database from 'better-sqlite3';
import {
  LedgerExistsError,
  SequenceConflictError,
  type BlockWrite,
  type IndexEntry,
  type LedgerRecord,
  type Store,
  type StoredBlock,
  type StoredCatalogObject,
  type StoredRevision,
  type TableHistoryQuery,
} from '../store.js';
import { latestSchemaVersion, migrations } from './migrations.js';

export interface SqliteStoreOptions {
  /** Database file path; `:memory:` for a throwaway store. */
  path: string;
}

type Row = Record<string, unknown>;

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`,
 * so a commit that returned survives a process kill and a power loss.
 *
 * better-sqlite3 is synchronous; every method runs to completion before it
 * returns its promise, which also serialises writers within one process.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  readonly #append: (ledgerId: string, blocks: BlockWrite[]) => void;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#append = db.transaction((ledgerId: string, blocks: BlockWrite[]) =>
      this.#appendInTransaction(ledgerId, blocks),
    );
  }

  /** Open (creating when missing) and migrate a SQLite store. */
  static open(options: SqliteStoreOptions): SqliteStore {
    const db = new Database(options.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return new SqliteStore(db);
  }

  async close(): Promise<void> {
    this.#db.close();
  }

  async schemaVersion(): Promise<number> {
    return currentVersion(this.#db);
  }

  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  async createLedger(record: LedgerRecord): Promise<void> {
    try {
      this.#statement(
        'INSERT INTO ledgers (name, id, created_at, settings, wrapped_key) VALUES (?, ?, ?, ?, ?)',
      ).run(record.name, record.id, record.createdAt, record.settings, record.wrappedKey);
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) {
        throw new LedgerExistsError(record.name);
      }
      throw error;
    }
  }

  async getLedger(name: string): Promise<LedgerRecord | undefined> {
    const row = this.#statement('SELECT * FROM ledgers WHERE name = ?').get(name) as Row | undefined;
    return row === undefined ? undefined : toLedger(row);
  }

  async listLedgers(): Promise<LedgerRecord[]> {
    const rows = this.#statement('SELECT * FROM ledgers ORDER BY name').all() as Row[];
    return rows.map(toLedger);
  }

  async updateLedgerSettings(name: string, settings: string): Promise<void> {
    this.#statement('UPDATE ledgers SET settings = ? WHERE name = ?').run(settings, name);
  }

  async updateLedgerKey(name: string, wrappedKey: Uint8Array): Promise<void> {
    this.#statement('UPDATE ledgers SET wrapped_key = ? WHERE name = ?').run(wrappedKey, name);
  }

  async deleteLedger(name: string): Promise<void> {
    const ledger = await this.getLedger(name);
    if (ledger === undefined) return;
    this.#db.transaction(() => {
      for (const table of [
        'blocks',
        'revisions',
        'documents',
        'index_entries',
        'merkle_nodes',
        'catalog',
      ]) {
        this.#statement(`DELETE FROM ${table} WHERE ledger_id = ?`).run(ledger.id);
      }
      this.#statement('DELETE FROM ledgers WHERE name = ?').run(name);
    })();
  }

  async appendBlocks(ledgerId: string, blocks: BlockWrite[]): Promise<void> {
    if (blocks.length === 0) return;
    this.#append(ledgerId, blocks);
  }

  #appendInTransaction(ledgerId: string, blocks: BlockWrite[]): void {
    const last = this.#statement(
      'SELECT seq FROM blocks WHERE ledger_id = ? ORDER BY seq DESC LIMIT 1',
    ).get(ledgerId) as { seq: number } | undefined;
    const next = last === undefined ? 0 : last.seq + 1;
    if (blocks[0]!.seq !== next) throw new SequenceConflictError(next, blocks[0]!.seq);

    const insertBlock = this.#statement(
      `INSERT INTO blocks (ledger_id, seq, tx_id, time, block_hash, entries_hash, previous_hash, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertRevision = this.#statement(
      `INSERT INTO revisions (ledger_id, doc_id, version, table_id, block_seq, tx_time, tx_id, hash, payload, deleted, block_pos)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const upsertDocument = this.#statement(
      `INSERT INTO documents (ledger_id, doc_id, table_id, version, deleted) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (ledger_id, doc_id) DO UPDATE SET version = excluded.version, deleted = excluded.deleted`,
    );
    const deleteEntries = this.#statement(
      'DELETE FROM index_entries WHERE ledger_id = ? AND doc_id = ?',
    );
    const insertEntry = this.#statement(
      'INSERT OR IGNORE INTO index_entries (ledger_id, index_id, key_mac, doc_id) VALUES (?, ?, ?, ?)',
    );
    const insertNode = this.#statement(
      'INSERT INTO merkle_nodes (ledger_id, level, idx, hash) VALUES (?, ?, ?, ?)',
    );
    const upsertCatalog = this.#statement(
      `INSERT INTO catalog (ledger_id, object_id, kind, block_seq, payload) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (ledger_id, object_id) DO UPDATE SET block_seq = excluded.block_seq, payload = excluded.payload`,
    );

    let expected = next;
    for (const block of blocks) {
      if (block.seq !== expected) throw new SequenceConflictError(expected, block.seq);
      expected += 1;
      insertBlock.run(
        ledgerId,
        block.seq,
        block.txId,
        block.time,
        block.blockHash,
        block.entriesHash,
        block.previousHash,
        block.body,
      );
      for (const [position, revision] of block.revisions.entries()) {
        insertRevision.run(
          ledgerId,
          revision.docId,
          revision.version,
          revision.tableId,
          revision.blockSeq,
          revision.txTime,
          revision.txId,
          revision.hash,
          revision.payload,
          revision.deleted ? 1 : 0,
          position,
        );
        upsertDocument.run(
          ledgerId,
          revision.docId,
          revision.tableId,
          revision.version,
          revision.deleted ? 1 : 0,
        );
        if (revision.version > 0) deleteEntries.run(ledgerId, revision.docId);
        for (const entry of revision.indexEntries) {
          insertEntry.run(ledgerId, entry.indexId, entry.keyMac, revision.docId);
        }
      }
      for (const add of block.indexAdds ?? []) {
        insertEntry.run(ledgerId, add.entry.indexId, add.entry.keyMac, add.docId);
      }
      for (const object of block.catalog) {
        upsertCatalog.run(ledgerId, object.objectId, object.kind, object.blockSeq, object.payload);
      }
      for (const node of block.merkleNodes) {
        insertNode.run(ledgerId, node.level, node.index, node.hash);
      }
    }
  }

  async lastBlock(ledgerId: string): Promise<StoredBlock | undefined> {
    const row = this.#statement(
      'SELECT * FROM blocks WHERE ledger_id = ? ORDER BY seq DESC LIMIT 1',
    ).get(ledgerId) as Row | undefined;
    return row === undefined ? undefined : toBlock(row);
  }

  async getBlock(ledgerId: string, seq: number): Promise<StoredBlock | undefined> {
    const row = this.#statement('SELECT * FROM blocks WHERE ledger_id = ? AND seq = ?').get(
      ledgerId,
      seq,
    ) as Row | undefined;
    return row === undefined ? undefined : toBlock(row);
  }

  async getBlocks(ledgerId: string, from: number, to: number): Promise<StoredBlock[]> {
    const rows = this.#statement(
      'SELECT * FROM blocks WHERE ledger_id = ? AND seq >= ? AND seq < ? ORDER BY seq',
    ).all(ledgerId, from, to) as Row[];
    return rows.map(toBlock);
  }

  async getBlockRevisions(ledgerId: string, seq: number): Promise<StoredRevision[]> {
    const rows = this.#statement(
      'SELECT * FROM revisions WHERE ledger_id = ? AND block_seq = ? ORDER BY block_pos',
    ).all(ledgerId, seq) as Row[];
    return rows.map(toRevision);
  }

  async getMerkleNodes(
    ledgerId: string,
    nodes: ReadonlyArray<{ level: number; index: number }>,
  ): Promise<Array<Uint8Array | undefined>> {
    const select = this.#statement(
      'SELECT hash FROM merkle_nodes WHERE ledger_id = ? AND level = ? AND idx = ?',
    );
    return nodes.map((node) => {
      const row = select.get(ledgerId, node.level, node.index) as { hash: Buffer } | undefined;
      return row?.hash;
    });
  }

  async loadCatalog(ledgerId: string): Promise<StoredCatalogObject[]> {
    const rows = this.#statement(
      'SELECT * FROM catalog WHERE ledger_id = ? ORDER BY block_seq, object_id',
    ).all(ledgerId) as Row[];
    return rows.map((row) => ({
      objectId: row.object_id as string,
      kind: row.kind as 'table' | 'index',
      blockSeq: row.block_seq as number,
      payload: row.payload as Buffer,
    }));
  }

  async getDocument(ledgerId: string, docId: string): Promise<StoredRevision | undefined> {
    const row = this.#statement(
      `SELECT r.* FROM documents d
       JOIN revisions r ON r.ledger_id = d.ledger_id AND r.doc_id = d.doc_id AND r.version = d.version
       WHERE d.ledger_id = ? AND d.doc_id = ?`,
    ).get(ledgerId, docId) as Row | undefined;
    return row === undefined ? undefined : toRevision(row);
  }

  async scanTable(ledgerId: string, tableId: string): Promise<StoredRevision[]> {
    const rows = this.#statement(
      `SELECT r.* FROM documents d
       JOIN revisions r ON r.ledger_id = d.ledger_id AND r.doc_id = d.doc_id AND r.version = d.version
       WHERE d.ledger_id = ? AND d.table_id = ? AND d.deleted = 0
       ORDER BY d.doc_id`,
    ).all(ledgerId, tableId) as Row[];
    return rows.map(toRevision);
  }

  async lookupIndex(ledgerId: string, entry: IndexEntry): Promise<StoredRevision[]> {
    const rows = this.#statement(
      `SELECT r.* FROM index_entries e
       JOIN documents d ON d.ledger_id = e.ledger_id AND d.doc_id = e.doc_id
       JOIN revisions r ON r.ledger_id = d.ledger_id AND r.doc_id = d.doc_id AND r.version = d.version
       WHERE e.ledger_id = ? AND e.index_id = ? AND e.key_mac = ? AND d.deleted = 0
       ORDER BY e.doc_id`,
    ).all(ledgerId, entry.indexId, entry.keyMac) as Row[];
    return rows.map(toRevision);
  }

  async getRevision(
    ledgerId: string,
    docId: string,
    version: number,
  ): Promise<StoredRevision | undefined> {
    const row = this.#statement(
      'SELECT * FROM revisions WHERE ledger_id = ? AND doc_id = ? AND version = ?',
    ).get(ledgerId, docId, version) as Row | undefined;
    return row === undefined ? undefined : toRevision(row);
  }

  async documentHistory(ledgerId: string, docId: string): Promise<StoredRevision[]> {
    const rows = this.#statement(
      'SELECT * FROM revisions WHERE ledger_id = ? AND doc_id = ? ORDER BY version',
    ).all(ledgerId, docId) as Row[];
    return rows.map(toRevision);
  }

  async tableHistory(ledgerId: string, query: TableHistoryQuery): Promise<StoredRevision[]> {
    const rows = this.#statement(
      `SELECT * FROM revisions WHERE ledger_id = ? AND table_id = ? AND tx_time <= ?
       ORDER BY doc_id, version`,
    ).all(ledgerId, query.tableId, query.until ?? Number.MAX_SAFE_INTEGER) as Row[];
    return rows.map(toRevision);
  }
}

function migrate(db: Database.Database): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT',
  );
  const apply = db.transaction((version: number, sql: string) => {
    // Re-read inside the write transaction so that two processes opening
    // the same file at once apply each migration exactly once.
    if (currentVersion(db) >= version) return;
    db.exec(sql);
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(
      version,
      Date.now(),
    );
  });
  for (const migration of migrations) apply.immediate(migration.version, migration.sql);

  const version = currentVersion(db);
  if (version > latestSchemaVersion) {
    db.close();
    throw new Error(
      `the database schema is version ${version}, newer than this Vellum (${latestSchemaVersion}); upgrade Vellum`,
    );
  }
}

function currentVersion(db: Database.Database): number {
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as {
    version: number | null;
  };
  return row.version ?? 0;
}

function toLedger(row: Row): LedgerRecord {
  return {
    name: row.name as string,
    id: row.id as string,
    createdAt: row.created_at as number,
    settings: row.settings as string,
    wrappedKey: row.wrapped_key as Buffer,
  };
}

function toBlock(row: Row): StoredBlock {
  return {
    seq: row.seq as number,
    txId: row.tx_id as string,
    time: row.time as number,
    blockHash: row.block_hash as Buffer,
    entriesHash: row.entries_hash as Buffer,
    previousHash: row.previous_hash as Buffer,
    body: row.body as Buffer,
  };
}

function toRevision(row: Row): StoredRevision {
  return {
    docId: row.doc_id as string,
    version: row.version as number,
    tableId: row.table_id as string,
    blockSeq: row.block_seq as number,
    txTime: row.tx_time as number,
    txId: row.tx_id as string,
    hash: row.hash as Buffer,
    payload: row.payload as Buffer,
    deleted: row.deleted === 1,
  };
}
