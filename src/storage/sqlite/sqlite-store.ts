import type Database from 'better-sqlite3';
import {
  LedgerExistsError,
  LedgerNotFoundError,
  type AppendLock,
  StateConflictError,
  StoreClosedError,
  type BlockWrite,
  type StateRecord,
  type IndexEntry,
  type JournalChanges,
  type LedgerRecord,
  type Store,
  type StoredBlock,
  type StoredCatalogObject,
  type StoredRevision,
  type TableHistoryQuery,
  type IndexEntryReplacement,
  type SealedReplacements,
  type StoredIndexEntry,
  type WrappedDataKey,
} from '../store.js';
import {
  checkGeneration,
  checkLimit,
  checkStateKey,
  checkReplacements,
  lookupEntries,
  entriesLeftConflict,
  rekeyConflict,
  retiringKeyConflict,
  wholeDocuments,
  toBlock,
  toCatalogObject,
  toLedger,
  toRevision,
  type Row,
} from '../rows.js';
import { latestSchemaVersion, migrations } from './migrations.js';
import { appendBlocks, runAppend } from './sqlite-append.js';
import { openConnection } from './sqlite-connection.js';
import { SqliteWriter } from './sqlite-writer.js';

export interface SqliteStoreOptions {
  /** Database file path; `:memory:` for a throwaway store. */
  path: string;
  /**
   * Append blocks on a writer thread (the default for files), so that SQLite
   * work and fsync overlap with the engine preparing the next batch.
   */
  writerThread?: boolean;
}

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`,
 * so a commit that returned survives a process kill and a power loss.
 *
 * better-sqlite3 is synchronous; every method runs to completion before it
 * returns its promise, which also serialises writers within one process.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  // NOTE: one Vellum process per database file is assumed, as the committer
  // also assumes; nothing yet stops a second process from opening the file.
  readonly singleWriter = true;
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  readonly #ledgerNumbers = new Map<string, number>();
  readonly #append: Database.Transaction<(ledger: number, blocks: BlockWrite[]) => void>;
  readonly #writer: SqliteWriter | undefined;

  private constructor(db: Database.Database, writer: SqliteWriter | undefined) {
    this.#db = db;
    this.#writer = writer;
    this.#append = db.transaction((ledger: number, blocks: BlockWrite[]) =>
      appendBlocks(db, ledger, blocks),
    );
  }

  /** Open (creating when missing) and migrate a SQLite store. */
  static open(options: SqliteStoreOptions): SqliteStore {
    const db = openConnection(options.path);
    migrate(db);
    const threaded = (options.writerThread ?? true) && options.path !== ':memory:';
    return new SqliteStore(db, threaded ? new SqliteWriter(options.path) : undefined);
  }

  async close(): Promise<void> {
    if (!this.#db.open) return;
    await this.#writer?.close();
    this.#db.close();
  }

  async schemaVersion(): Promise<number> {
    return currentVersion(this.#db);
  }

  #statement(sql: string): Database.Statement {
    if (!this.#db.open) throw new StoreClosedError();
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** The ledger's number, the key of its rows in every other table. */
  #ledgerNo(ledgerId: string): number {
    let no = this.#ledgerNumbers.get(ledgerId);
    if (no === undefined) {
      const row = this.#statement('SELECT no FROM ledgers WHERE id = ?').get(ledgerId) as
        { no: number } | undefined;
      // A ledger that does not exist gets a number no row has, so reads find nothing.
      if (row === undefined) return -1;
      no = row.no;
      this.#ledgerNumbers.set(ledgerId, no);
    }
    return no;
  }

  async createLedger(record: LedgerRecord): Promise<void> {
    try {
      this.#statement(
        'INSERT INTO ledgers (name, id, created_at, settings, wrapped_key, key_generation) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(
        record.name,
        record.id,
        record.createdAt,
        record.settings,
        record.wrappedKey,
        record.keyGeneration ?? 0,
      );
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) {
        throw new LedgerExistsError(record.name);
      }
      throw error;
    }
  }

  async getLedger(name: string): Promise<LedgerRecord | undefined> {
    const row = this.#statement('SELECT * FROM ledgers WHERE name = ?').get(name) as
      Row | undefined;
    return row === undefined ? undefined : toLedger(row);
  }

  async listLedgers(): Promise<LedgerRecord[]> {
    const rows = this.#statement('SELECT * FROM ledgers ORDER BY name').all() as Row[];
    return rows.map(toLedger);
  }

  async updateLedgerSettings(name: string, settings: string): Promise<void> {
    this.#statement('UPDATE ledgers SET settings = ? WHERE name = ?').run(settings, name);
  }

  async updateLedgerKey(
    name: string,
    wrappedKey: Uint8Array,
    generation?: number,
    expected?: Uint8Array,
  ): Promise<boolean> {
    if (generation !== undefined) checkGeneration(generation);
    const current = this.#statement(
      `UPDATE ledgers SET wrapped_key = ?
       WHERE name = ? AND key_generation = COALESCE(?, key_generation)
         AND (? IS NULL OR wrapped_key = ?)`,
    ).run(wrappedKey, name, generation ?? null, expected ?? null, expected ?? null);
    if (current.changes > 0 || generation === undefined) return current.changes > 0;
    const retiring = this.#statement(
      `UPDATE ledgers SET retiring_key = ?
       WHERE name = ? AND retiring_generation = ? AND (? IS NULL OR retiring_key = ?)`,
    ).run(wrappedKey, name, generation, expected ?? null, expected ?? null);
    return retiring.changes > 0;
  }

  async beginRekey(name: string, from: number, next: WrappedDataKey): Promise<void> {
    checkGeneration(from);
    checkGeneration(next.generation);
    if (!this.#db.open) throw new StoreClosedError();
    const begin = this.#db.transaction(() => {
      const changed = this.#statement(
        `UPDATE ledgers SET retiring_key = wrapped_key, retiring_generation = key_generation,
           wrapped_key = ?, key_generation = ?
         WHERE name = ? AND key_generation = ? AND retiring_key IS NULL AND key_generation < ?`,
      ).run(next.wrappedKey, next.generation, name, from, next.generation);
      if (changed.changes === 0) {
        const row = this.#statement('SELECT * FROM ledgers WHERE name = ?').get(name) as
          Row | undefined;
        throw rekeyConflict(name, row === undefined ? undefined : toLedger(row), from, next);
      }
    });
    begin.immediate();
  }

  async finishRekey(name: string, generation: number): Promise<void> {
    checkGeneration(generation);
    if (!this.#db.open) throw new StoreClosedError();
    const finish = this.#db.transaction(() => {
      const row = this.#statement('SELECT * FROM ledgers WHERE name = ?').get(name) as
        Row | undefined;
      const conflict = retiringKeyConflict(
        name,
        row === undefined ? undefined : toLedger(row),
        generation,
      );
      if (conflict !== undefined) throw conflict;
      const ledger = row!.no as number;
      const left = this.#statement(
        'SELECT doc_id FROM index_entries WHERE ledger = ? AND key_gen = ? LIMIT 1',
      ).get(ledger, generation);
      if (left !== undefined) throw entriesLeftConflict(name, generation);
      this.#statement('DELETE FROM removed_index_entries WHERE ledger = ? AND key_gen = ?').run(
        ledger,
        generation,
      );
      this.#statement(
        'UPDATE ledgers SET retiring_key = NULL, retiring_generation = NULL WHERE no = ?',
      ).run(ledger);
    });
    // Overwrite the freed bytes of the retiring key instead of leaving them
    // in free space, then copy the WAL into the database and truncate it,
    // so no earlier copy of the row stays in either file.
    this.#db.pragma('secure_delete = ON');
    try {
      finish.immediate();
    } finally {
      this.#db.pragma('secure_delete = OFF');
    }
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async replaceSealed(ledgerId: string, replacements: SealedReplacements): Promise<void> {
    if (!this.#db.open) throw new StoreClosedError();
    const ledger = this.#ledgerNo(ledgerId);
    const blocks = this.#statement('UPDATE blocks SET body = ? WHERE ledger = ? AND seq = ?');
    const revisions = this.#statement(
      'UPDATE revisions SET payload = ? WHERE ledger = ? AND doc_id = ? AND version = ? AND payload = ?',
    );
    const catalog = this.#statement(
      'UPDATE catalog SET payload = ? WHERE ledger = ? AND object_id = ? AND block_seq = ?',
    );
    const write = this.#db.transaction(() => {
      for (const block of replacements.blocks ?? []) blocks.run(block.body, ledger, block.seq);
      for (const revision of replacements.revisions ?? []) {
        revisions.run(revision.payload, ledger, revision.docId, revision.version, revision.from);
      }
      for (const object of replacements.catalog ?? []) {
        catalog.run(object.payload, ledger, object.objectId, object.blockSeq);
      }
    });
    write.immediate();
  }

  async listIndexEntries(
    ledgerId: string,
    generation: number,
    afterDocId: string,
    limit: number,
  ): Promise<StoredIndexEntry[]> {
    checkLimit(limit);
    const ledger = this.#ledgerNo(ledgerId);
    const rows = this.#statement(
      `SELECT doc_id, version, index_id, key_mac, key_gen FROM index_entries
       WHERE ledger = ? AND key_gen = ? AND doc_id > ? ORDER BY doc_id, index_id, key_mac LIMIT ?`,
    ).all(ledger, generation, afterDocId, limit) as Row[];
    return wholeDocuments(
      rows,
      limit,
      (docId) =>
        this.#statement(
          `SELECT doc_id, version, index_id, key_mac, key_gen FROM index_entries
           WHERE ledger = ? AND key_gen = ? AND doc_id = ? ORDER BY index_id, key_mac`,
        ).all(ledger, generation, docId) as Row[],
    );
  }

  async replaceIndexEntries(
    ledgerId: string,
    replacements: IndexEntryReplacement[],
  ): Promise<number> {
    checkReplacements(replacements);
    if (!this.#db.open) throw new StoreClosedError();
    const ledger = this.#ledgerNo(ledgerId);
    const update = this.#statement(
      `UPDATE OR REPLACE index_entries SET key_mac = ?, key_gen = ?
       WHERE ledger = ? AND index_id = ? AND key_mac = ? AND doc_id = ? AND version = ? AND key_gen = ?`,
    );
    const write = this.#db.transaction(() => {
      let replaced = 0;
      for (const { docId, version, from, to } of replacements) {
        replaced += update.run(
          to.keyMac,
          to.generation ?? 0,
          ledger,
          from.indexId,
          from.keyMac,
          docId,
          version,
          from.generation ?? 0,
        ).changes;
      }
      return replaced;
    });
    return write.immediate();
  }

  async getRevisionsInBlocks(
    ledgerId: string,
    from: number,
    to: number,
  ): Promise<StoredRevision[]> {
    const rows = this.#statement(
      `SELECT * FROM revisions WHERE ledger = ? AND block_seq >= ? AND block_seq < ?
       ORDER BY block_seq, block_pos`,
    ).all(this.#ledgerNo(ledgerId), from, to) as Row[];
    return rows.map(toRevision);
  }

  async deleteLedger(name: string): Promise<void> {
    const ledger = await this.getLedger(name);
    if (ledger === undefined) return;
    const no = this.#ledgerNo(ledger.id);
    this.#db.transaction(() => {
      for (const table of [
        'blocks',
        'revisions',
        'index_entries',
        'removed_index_entries',
        'merkle_nodes',
        'catalog',
      ]) {
        this.#statement(`DELETE FROM ${table} WHERE ledger = ?`).run(no);
      }
      this.#statement('DELETE FROM ledgers WHERE name = ?').run(name);
    })();
    this.#ledgerNumbers.delete(ledger.id);
  }

  async appendBlocks(ledgerId: string, blocks: BlockWrite[]): Promise<void> {
    if (blocks.length === 0) return;
    if (!this.#db.open) throw new StoreClosedError();
    const ledger = this.#ledgerNo(ledgerId);
    if (ledger < 0) throw new LedgerNotFoundError(ledgerId);
    // A lone block with the thread idle is written here: the hop to the
    // thread and back would only add latency, as nothing could overlap it.
    if (this.#writer !== undefined && !(blocks.length === 1 && this.#writer.idle)) {
      return this.#writer.append(ledger, blocks);
    }
    runAppend(this.#db, this.#append, ledger, blocks);
  }

  async lockAppends(
    ledgerId: string,
    catchUp?: { afterSeq: number; maxBlocks: number },
  ): Promise<AppendLock> {
    // The only writer: appends are serialised by SQLite's write lock and
    // the single writer thread.
    if (!this.#db.open) throw new StoreClosedError();
    const changes =
      catchUp === undefined
        ? undefined
        : await this.changesSince(ledgerId, catchUp.afterSeq, catchUp.maxBlocks);
    return { changes, contended: async () => false, release: async () => undefined };
  }

  async changesSince(
    ledgerId: string,
    afterSeq: number,
    maxBlocks = Number.MAX_SAFE_INTEGER,
  ): Promise<JournalChanges> {
    if (!this.#db.open) throw new StoreClosedError();
    const ledger = this.#ledgerNo(ledgerId);
    // One read transaction, so that the writer thread's commits in between
    // the statements are not half seen.
    const read = this.#db.transaction((): JournalChanges => {
      const last = this.#statement(
        'SELECT * FROM blocks WHERE ledger = ? ORDER BY seq DESC LIMIT 1',
      ).get(ledger) as Row | undefined;
      if (last !== undefined && (last.seq as number) - afterSeq > maxBlocks) {
        const tip = toBlock(last);
        return {
          last: tip,
          complete: false,
          blockHashes: [],
          revisions: [],
          indexEntries: [],
          redactions: [],
          catalog: [],
        };
      }
      const hashes = this.#statement(
        'SELECT block_hash FROM blocks WHERE ledger = ? AND seq > ? ORDER BY seq',
      ).all(ledger, afterSeq) as Row[];
      const revisions = this.#statement(
        `SELECT doc_id, table_id, block_seq FROM revisions
         WHERE ledger = ? AND block_seq > ? ORDER BY block_seq, block_pos`,
      ).all(ledger, afterSeq) as Row[];
      const entries = this.#statement(
        `SELECT e.index_id, e.key_mac, r.block_seq FROM revisions r
         JOIN index_entries e ON e.ledger = r.ledger AND e.doc_id = r.doc_id AND e.version = r.version
         WHERE r.ledger = ? AND r.block_seq > ?
         UNION ALL
         SELECT index_id, key_mac, block_seq FROM removed_index_entries
         WHERE ledger = ? AND block_seq > ?`,
      ).all(ledger, afterSeq, ledger, afterSeq) as Row[];
      const redactions = this.#statement(
        `SELECT doc_id, version, redacted_seq FROM revisions
         WHERE ledger = ? AND redacted_seq > ? ORDER BY redacted_seq`,
      ).all(ledger, afterSeq) as Row[];
      const catalog = this.#statement(
        'SELECT * FROM catalog WHERE ledger = ? AND block_seq > ? ORDER BY block_seq, object_id',
      ).all(ledger, afterSeq) as Row[];
      return {
        last: last === undefined ? undefined : toBlock(last),
        complete: true,
        blockHashes: hashes.map((row) => row.block_hash as Buffer),
        revisions: revisions.map((row) => ({
          docId: row.doc_id as string,
          tableId: row.table_id as string,
          blockSeq: row.block_seq as number,
        })),
        indexEntries: entries.map((row) => ({
          entry: { indexId: row.index_id as string, keyMac: row.key_mac as Buffer },
          blockSeq: row.block_seq as number,
        })),
        redactions: redactions.map((row) => ({
          docId: row.doc_id as string,
          version: row.version as number,
          blockSeq: row.redacted_seq as number,
        })),
        catalog: catalog.map(toCatalogObject),
      };
    });
    return read.deferred();
  }

  async lastBlock(ledgerId: string): Promise<StoredBlock | undefined> {
    const row = this.#statement(
      'SELECT * FROM blocks WHERE ledger = ? ORDER BY seq DESC LIMIT 1',
    ).get(this.#ledgerNo(ledgerId)) as Row | undefined;
    return row === undefined ? undefined : toBlock(row);
  }

  async getBlock(ledgerId: string, seq: number): Promise<StoredBlock | undefined> {
    const row = this.#statement('SELECT * FROM blocks WHERE ledger = ? AND seq = ?').get(
      this.#ledgerNo(ledgerId),
      seq,
    ) as Row | undefined;
    return row === undefined ? undefined : toBlock(row);
  }

  async getBlocks(ledgerId: string, from: number, to: number): Promise<StoredBlock[]> {
    const rows = this.#statement(
      'SELECT * FROM blocks WHERE ledger = ? AND seq >= ? AND seq < ? ORDER BY seq',
    ).all(this.#ledgerNo(ledgerId), from, to) as Row[];
    return rows.map(toBlock);
  }

  async getBlockRevisions(ledgerId: string, seq: number): Promise<StoredRevision[]> {
    const rows = this.#statement(
      'SELECT * FROM revisions WHERE ledger = ? AND block_seq = ? ORDER BY block_pos',
    ).all(this.#ledgerNo(ledgerId), seq) as Row[];
    return rows.map(toRevision);
  }

  async getMerkleNodes(
    ledgerId: string,
    nodes: ReadonlyArray<{ level: number; index: number }>,
  ): Promise<Array<Uint8Array | undefined>> {
    const ledger = this.#ledgerNo(ledgerId);
    const selectNode = this.#statement(
      'SELECT hash FROM merkle_nodes WHERE ledger = ? AND level = ? AND idx = ?',
    );
    const selectLeaf = this.#statement(
      'SELECT block_hash AS hash FROM blocks WHERE ledger = ? AND seq = ?',
    );
    return nodes.map((node) => {
      const row = (
        node.level === 0
          ? selectLeaf.get(ledger, node.index)
          : selectNode.get(ledger, node.level, node.index)
      ) as { hash: Buffer } | undefined;
      return row?.hash;
    });
  }

  async loadCatalog(ledgerId: string): Promise<StoredCatalogObject[]> {
    const rows = this.#statement(
      'SELECT * FROM catalog WHERE ledger = ? ORDER BY block_seq, object_id',
    ).all(this.#ledgerNo(ledgerId)) as Row[];
    return rows.map(toCatalogObject);
  }

  async getDocument(ledgerId: string, docId: string): Promise<StoredRevision | undefined> {
    const row = this.#statement(
      'SELECT * FROM revisions WHERE ledger = ? AND doc_id = ? ORDER BY version DESC LIMIT 1',
    ).get(this.#ledgerNo(ledgerId), docId) as Row | undefined;
    return row === undefined ? undefined : toRevision(row);
  }

  async scanTable(ledgerId: string, tableId: string): Promise<StoredRevision[]> {
    const rows = this.#statement(
      `SELECT r.* FROM revisions r
       WHERE r.ledger = ? AND r.table_id = ? AND r.deleted = 0
         AND r.version = (SELECT MAX(m.version) FROM revisions m WHERE m.ledger = r.ledger AND m.doc_id = r.doc_id)
       ORDER BY r.doc_id`,
    ).all(this.#ledgerNo(ledgerId), tableId) as Row[];
    return rows.map(toRevision);
  }

  async lookupIndex(
    ledgerId: string,
    entries: IndexEntry | readonly IndexEntry[],
  ): Promise<StoredRevision[]> {
    const list = lookupEntries(entries);
    const macs = list.length === 1 ? '= ?' : `IN (${list.map(() => '?').join(', ')})`;
    const rows = this.#statement(
      `SELECT r.* FROM index_entries e
       JOIN revisions r ON r.ledger = e.ledger AND r.doc_id = e.doc_id AND r.version = e.version
       WHERE e.ledger = ? AND e.index_id = ? AND e.key_mac ${macs}
       ORDER BY e.doc_id`,
    ).all(this.#ledgerNo(ledgerId), list[0]!.indexId, ...list.map((e) => e.keyMac)) as Row[];
    return rows.map(toRevision);
  }

  async getRevision(
    ledgerId: string,
    docId: string,
    version: number,
  ): Promise<StoredRevision | undefined> {
    const row = this.#statement(
      'SELECT * FROM revisions WHERE ledger = ? AND doc_id = ? AND version = ?',
    ).get(this.#ledgerNo(ledgerId), docId, version) as Row | undefined;
    return row === undefined ? undefined : toRevision(row);
  }

  async documentHistory(ledgerId: string, docId: string): Promise<StoredRevision[]> {
    const rows = this.#statement(
      'SELECT * FROM revisions WHERE ledger = ? AND doc_id = ? ORDER BY version',
    ).all(this.#ledgerNo(ledgerId), docId) as Row[];
    return rows.map(toRevision);
  }

  async tableHistory(ledgerId: string, query: TableHistoryQuery): Promise<StoredRevision[]> {
    const rows = this.#statement(
      `SELECT * FROM revisions WHERE ledger = ? AND table_id = ? AND tx_time <= ?
       ORDER BY doc_id, version`,
    ).all(this.#ledgerNo(ledgerId), query.tableId, query.until ?? Number.MAX_SAFE_INTEGER) as Row[];
    return rows.map(toRevision);
  }

  async getState(namespace: string, key: string): Promise<StateRecord | undefined> {
    const row = this.#statement(
      'SELECT version, value FROM state WHERE namespace = ? AND key = ?',
    ).get(namespace, key) as { version: number; value: Buffer } | undefined;
    return row === undefined
      ? undefined
      : { namespace, key, version: row.version, value: row.value };
  }

  async listState(namespace: string, prefix = ''): Promise<StateRecord[]> {
    // substr() rather than LIKE, so that `%` and `_` in a prefix are literal.
    const rows = this.#statement(
      `SELECT key, version, value FROM state
       WHERE namespace = ? AND key >= ? AND substr(key, 1, ?) = ?
       ORDER BY key`,
    ).all(namespace, prefix, prefix.length, prefix) as Array<{
      key: string;
      version: number;
      value: Buffer;
    }>;
    return rows.map((row) => ({ namespace, ...row }));
  }

  async putState(
    namespace: string,
    key: string,
    value: Uint8Array,
    expectedVersion: number,
  ): Promise<number> {
    checkStateKey(namespace, key);
    if (!this.#db.open) throw new StoreClosedError();
    const write = this.#db.transaction(() => {
      const found = this.#stateVersion(namespace, key);
      if (found !== expectedVersion) {
        throw new StateConflictError(namespace, key, expectedVersion, found);
      }
      this.#statement(
        `INSERT INTO state (namespace, key, version, value) VALUES (?, ?, ?, ?)
         ON CONFLICT (namespace, key) DO UPDATE SET version = excluded.version, value = excluded.value`,
      ).run(namespace, key, found + 1, value);
      return found + 1;
    });
    return write.immediate();
  }

  async deleteState(namespace: string, key: string, expectedVersion: number): Promise<void> {
    if (!this.#db.open) throw new StoreClosedError();
    const remove = this.#db.transaction(() => {
      const found = this.#stateVersion(namespace, key);
      if (found === 0 || found !== expectedVersion) {
        throw new StateConflictError(namespace, key, expectedVersion, found);
      }
      this.#statement('DELETE FROM state WHERE namespace = ? AND key = ?').run(namespace, key);
    });
    remove.immediate();
  }

  #stateVersion(namespace: string, key: string): number {
    const row = this.#statement('SELECT version FROM state WHERE namespace = ? AND key = ?').get(
      namespace,
      key,
    ) as { version: number } | undefined;
    return row?.version ?? 0;
  }
}

function migrate(db: Database.Database): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
  );
  const apply = db.transaction((version: number, sql: string) => {
    // Re-read inside the transaction, which `apply.immediate` opens with the
    // write lock held, so two processes opening the same file at once apply
    // each migration once.
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
