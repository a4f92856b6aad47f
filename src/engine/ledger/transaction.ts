import { dom, dumpText, IonTypes, load } from 'ion-js';
import type { Store, StoredRevision, IndexEntry } from '../../storage/store.js';
import {
  LedgerError,
  OccConflictError,
  QuotaExceededError,
  TransactionClosedError,
  TransactionExpiredError,
} from '../errors.js';
import { newDocumentId, newId, isId } from '../ids.js';
import {
  dot,
  encodeAndHash,
  encodeAndHashJs,
  hashString,
  ionHash,
  isDocumentObject,
  describeJsValue,
  FOREIGN_ION_VALUE,
  isForeignIonValue,
  IonBinaryWriter,
  JsValueLimitError,
  writeJsValue,
  type DocumentObject,
} from '../ion/index.js';
import type { PreparedRedaction, PreparedRevision } from '../journal/block-builder.js';
import { hashMetadata } from '../journal/journal-hash.js';
import type {
  BlockAddress,
  RedactionInfo,
  StatementInfo,
  TransactionInfo,
} from '../journal/journal-types.js';
import type { LedgerKeyring } from '../keyring/ledger-cipher.js';
import {
  Catalog,
  MAX_ACTIVE_TABLES,
  MAX_INDEXES_PER_TABLE,
  MAX_TABLES,
  type CatalogObject,
  type IndexDefinition,
  type TableDefinition,
} from './catalog.js';
import { indexEntriesOf, indexEntryOf } from './index-key.js';
import { Revision } from './revision.js';

/** QLDB's per-transaction and per-document quotas. */
export const MAX_DOCUMENTS_PER_TRANSACTION = 40;
export const MAX_TRANSACTION_BYTES = 4 * 1024 * 1024;
export const MAX_DOCUMENT_BYTES = 128 * 1024;
export const DEFAULT_TRANSACTION_TIMEOUT_MS = 30_000;

/**
 * A document to write: an ion-js struct, or a plain object that is written
 * as `dom.Value.from` would make it, without building the dom value.
 */
export type DocumentInput = dom.Value | DocumentObject;

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const MAX_FIELD_NAME_LENGTH = 128;

export interface CommitResult {
  transactionId: string;
  commitDigest: Uint8Array;
  /** Address of the block written; undefined when the transaction changed and ran nothing. */
  blockAddress: BlockAddress | undefined;
}

/** The ledger services a transaction uses. */
export interface LedgerAccess {
  readonly id: string;
  readonly store: Store;
  /** The ledger's data keys now; a rekey replaces them. */
  readonly cipher: LedgerKeyring;
  readonly transactionTimeoutMs: number;
  /** Changes whenever the key that seals new writes changes. */
  keyEpoch(): number;
  /**
   * Run a read of stored rows, and once more after loading the ledger's
   * keys again when it met a payload of a data key generation the ledger
   * does not hold (one retired while the read ran, or a newer one).
   */
  withCurrentKeys<T>(read: () => Promise<T>): Promise<T>;
  catalog(): Catalog;
  /** Sequence number of the last durable block; reads observe at least this state. */
  durableSeq(): number;
  submit(transaction: Transaction): Promise<CommitResult>;
  toRevision(stored: StoredRevision): Revision;
  /**
   * Committed documents with one of these index entries (a value's entry
   * under each data key held); `markKey` is `indexMarkKey` of the first.
   */
  lookupCommitted(entries: IndexEntry[], markKey: string): Promise<Revision[]>;
  /** Committed revisions of a table (by active name or id) active within `[start, end]`. */
  tableHistory(table: string, start?: number, end?: number): Promise<Revision[]>;
}

/** A document change buffered until commit. */
export interface PendingWrite {
  table: TableDefinition;
  docId: string;
  version: number;
  /** The document as Ion binary, decoded when the transaction reads it back; undefined for a deletion. */
  binary: Uint8Array | undefined;
  dataHash: Uint8Array | undefined;
  indexEntries: IndexEntry[];
  /** Index entries of the state this write replaces; a change to them conflicts with their readers. */
  replacedEntries: IndexEntry[];
  statements: Set<number>;
}

type State = 'open' | 'committing' | 'committed' | 'aborted' | 'expired';

/**
 * A serializable transaction under optimistic concurrency control. Reads see
 * the latest committed state plus the transaction's own writes and are
 * recorded: documents with the sequence number they were read at, index
 * lookups and table scans. At commit the ledger's committer rejects the
 * transaction with `OccConflictException` when a later commit changed any of
 * them, so the committed order is a serial order.
 */
export class Transaction {
  readonly id = newId();
  readonly startedAt = Date.now();

  #state: State = 'open';
  readonly #ledger: LedgerAccess;
  /** The catalog this transaction works from: the committed one when first needed, then its own copy after DDL. */
  #catalog: Catalog | undefined;
  #catalogChanged = false;

  readonly reads = new Map<string, number>();
  readonly indexReads = new Map<string, number>();
  readonly scans = new Map<string, number>();
  catalogObservedAt: number | undefined;
  /** The ledger's key epoch when the catalog was first read; a rekey step since is a conflict. */
  keyEpochObserved: number | undefined;

  readonly writes = new Map<string, PendingWrite>();
  readonly catalogChanges = new Map<string, CatalogObject>();
  readonly indexBuilds: Array<{ docId: string; entry: IndexEntry }> = [];
  readonly statements: StatementInfo[] = [];
  /** The revision this transaction redacts; QLDB allows one per transaction. */
  redaction: PreparedRedaction | undefined;
  #currentStatement = -1;
  #bytesWritten = 0;
  /** The running commit digest; computed on first use, since in-process callers may never need it. */
  #digest: Uint8Array | undefined;
  #alwaysJournal = false;

  constructor(ledger: LedgerAccess) {
    this.#ledger = ledger;
  }

  get state(): State {
    return this.#state;
  }

  /** The running commit digest, computed as the QLDB driver does. */
  get commitDigest(): Uint8Array {
    this.#digest ??= hashString(this.id);
    return this.#digest;
  }

  get expired(): boolean {
    return Date.now() - this.startedAt > this.#ledger.transactionTimeoutMs;
  }

  /**
   * Record a statement in the journal and the commit digest: the statement's
   * hash is `H(text)` dotted with `H(p)` of each parameter, and the commit
   * digest is dotted with it. Later writes are attributed to this statement.
   */
  recordStatement(statement: string, parameters: readonly dom.Value[] = []): number {
    this.#assertOpen();
    let statementDigest = statementHash(statement);
    for (const parameter of parameters) statementDigest = dot(statementDigest, ionHash(parameter));
    this.#digest = dot(this.commitDigest, statementDigest);
    this.statements.push({ statement, startTime: Date.now(), statementDigest });
    this.#currentStatement = this.statements.length - 1;
    return this.#currentStatement;
  }

  // Tables and indexes.

  /** Return all tables, active or not, including this transaction's changes. */
  tables(): TableDefinition[] {
    this.#assertOpen();
    this.#snapshot();
    return this.#snapshot().tables();
  }

  indexes(tableId: string): readonly IndexDefinition[] {
    this.#assertOpen();
    this.#snapshot();
    return this.#snapshot().indexesOf(tableId);
  }

  /** Return the active table with this name, or undefined. */
  findTable(name: string): TableDefinition | undefined {
    this.#assertOpen();
    this.#snapshot();
    return this.#snapshot().activeTable(name);
  }

  createTable(name: string): string {
    this.#assertOpen();
    validateName('table name', name);
    this.#snapshot();
    if (this.#snapshot().activeTable(name) !== undefined) {
      throw new LedgerError('BadRequestException', `Table ${name} already exists`);
    }
    const tables = this.#snapshot().tables();
    this.#assertTableQuotas(tables);
    if (tables.length >= MAX_TABLES) {
      throw new QuotaExceededError(
        `Cannot create table ${name}: the ledger already has ${MAX_TABLES} tables, active and inactive, the maximum`,
      );
    }
    const table: TableDefinition = { kind: 'table', tableId: newId(), name, status: 'ACTIVE' };
    this.#changeCatalog(table);
    return table.tableId;
  }

  dropTable(name: string): string {
    const table = this.#activeTable(name);
    this.#changeCatalog({ ...table, status: 'INACTIVE' });
    return table.tableId;
  }

  undropTable(tableId: string): string {
    this.#assertOpen();
    this.#snapshot();
    const table = this.#snapshot().get(tableId);
    if (table === undefined || table.kind !== 'table') {
      throw new LedgerError('BadRequestException', `No table with id ${tableId} exists`);
    }
    if (table.status === 'ACTIVE') {
      throw new LedgerError(
        'BadRequestException',
        `Table ${table.name} (${tableId}) is already active`,
      );
    }
    if (this.#snapshot().activeTable(table.name) !== undefined) {
      throw new LedgerError(
        'BadRequestException',
        `Cannot undrop table ${tableId}: an active table named ${table.name} exists; drop that table first`,
      );
    }
    this.#assertTableQuotas(this.#snapshot().tables());
    this.#changeCatalog({ ...table, status: 'ACTIVE' });
    return tableId;
  }

  /**
   * Drop one of a table's indexes, by id, as `DROP INDEX` does. Lookups on
   * its field scan the table from then on. Its stored entries go as each
   * document is next written.
   */
  dropIndex(tableName: string, indexId: string): string {
    const table = this.#activeTable(tableName);
    const index = this.#snapshot()
      .indexesOf(table.tableId)
      .find((candidate) => candidate.indexId === indexId);
    if (index === undefined) {
      const ids = this.#snapshot()
        .indexesOf(table.tableId)
        .map((candidate) => `${candidate.indexId} (${candidate.field})`);
      throw new LedgerError(
        'BadRequestException',
        `Table ${tableName} has no index with id ${indexId}; ` +
          (ids.length === 0 ? 'it has no indexes' : `its indexes are ${ids.join(', ')}`),
      );
    }
    this.#changeCatalog({ ...index, dropped: true });
    for (const write of this.writes.values()) {
      write.indexEntries = write.indexEntries.filter((entry) => entry.indexId !== indexId);
    }
    const builds = this.indexBuilds.filter((build) => build.entry.indexId !== indexId);
    this.indexBuilds.splice(0, this.indexBuilds.length, ...builds);
    return table.tableId;
  }

  /**
   * Create an equality index on a top-level field and index the table's
   * current documents in the same transaction.
   */
  async createIndex(
    tableName: string,
    field: string,
    options: { unique?: boolean } = {},
  ): Promise<string> {
    const table = this.#activeTable(tableName);
    if (typeof field !== 'string' || field.length === 0 || field.length > MAX_FIELD_NAME_LENGTH) {
      throw new LedgerError(
        'BadRequestException',
        `Index field name must be 1 to ${MAX_FIELD_NAME_LENGTH} characters, got ${JSON.stringify(field)}`,
      );
    }
    const existing = this.#snapshot().indexesOf(table.tableId);
    if (existing.some((index) => index.field === field)) {
      throw new LedgerError(
        'BadRequestException',
        `An index on ${tableName}.${field} already exists`,
      );
    }
    if (existing.length >= MAX_INDEXES_PER_TABLE) {
      throw new QuotaExceededError(
        `Cannot create an index on ${tableName}.${field}: the table already has ${MAX_INDEXES_PER_TABLE} indexes, the maximum`,
      );
    }

    const index: IndexDefinition = {
      kind: 'index',
      indexId: newId(),
      tableId: table.tableId,
      field,
      unique: options.unique === true,
      keys: 'equality',
    };
    const documents = await this.scan(tableName);
    const seen = new Set<string>();
    const entries: Array<{ docId: string; entry: IndexEntry }> = [];
    for (const revision of documents) {
      const value = fieldOf(revision.data, field);
      if (value === undefined) continue;
      const entry = this.#indexEntry(index, value);
      if (index.unique) {
        const key = Buffer.from(entry.keyMac).toString('base64');
        if (seen.has(key)) {
          throw new LedgerError(
            'BadRequestException',
            `Cannot create a unique index on ${tableName}.${field}: documents share the value ${describe(value)}`,
          );
        }
        seen.add(key);
      }
      entries.push({ docId: revision.id, entry });
    }

    // Nothing changes until every document is indexed, so a rejected unique
    // index leaves no entries behind.
    const builds: Array<{ docId: string; entry: IndexEntry }> = [];
    for (const { docId, entry } of entries) {
      const pending = this.writes.get(docId);
      if (pending !== undefined) pending.indexEntries.push(entry);
      else builds.push({ docId, entry });
    }
    this.#changeCatalog(index);
    this.indexBuilds.push(...builds);
    return index.indexId;
  }

  // Documents.

  async insert(tableName: string, data: DocumentInput): Promise<string> {
    const table = this.#activeTable(tableName);
    const docId = newDocumentId();
    const write = await this.#prepareWrite(table, docId, 0, data, []);
    this.#addWrite(write);
    return docId;
  }

  /** Replace a document's data; returns the new version. */
  async update(tableName: string, docId: string, data: DocumentInput): Promise<number> {
    const table = this.#activeTable(tableName);
    const current = await this.#requireDocument(table, docId);
    const pending = this.writes.get(docId);
    const version = pending !== undefined ? pending.version : current.version + 1;
    const replaced =
      pending !== undefined ? pending.replacedEntries : this.#entriesOf(table, current.data);
    const write = await this.#prepareWrite(table, docId, version, data, replaced);
    this.#addWrite(write);
    return version;
  }

  /** Write a deletion revision; returns its version. */
  async delete(tableName: string, docId: string): Promise<number> {
    const table = this.#activeTable(tableName);
    const current = await this.#requireDocument(table, docId);
    const pending = this.writes.get(docId);
    const version = pending !== undefined ? pending.version : current.version + 1;
    const replaced =
      pending !== undefined ? pending.replacedEntries : this.#entriesOf(table, current.data);
    // A deletion lists the statement that made it, as an update does.
    const statements = new Set(pending?.statements);
    if (this.#currentStatement >= 0) statements.add(this.#currentStatement);
    this.#addWrite({
      table,
      docId,
      version,
      binary: undefined,
      dataHash: undefined,
      indexEntries: [],
      replacedEntries: replaced,
      statements,
    });
    return version;
  }

  /** Read the current revision of a document in the table, or undefined. */
  async get(tableName: string, docId: string): Promise<Revision | undefined> {
    const table = this.#activeTable(tableName);
    return this.#readDocument(table, docId);
  }

  /**
   * Current documents whose indexed top-level `field` equals `value`: an
   * ion-js dom value, or a JavaScript value typed as in a plain-object document.
   */
  async lookup(tableName: string, field: string, key: unknown): Promise<Revision[]> {
    const table = this.#activeTable(tableName);
    const value = lookupValue(key);
    const index = this.#snapshot()
      .indexesOf(table.tableId)
      .find((candidate) => candidate.field === field);
    if (index === undefined) {
      throw new LedgerError('BadRequestException', `No index on ${tableName}.${field}`);
    }
    const entries = indexEntriesOf(index, value, this.#ledger.cipher);
    const entry = entries[0]!;
    const observed = this.#ledger.durableSeq();
    const markKey = indexMarkKey(entry);
    if (!this.indexReads.has(markKey)) this.indexReads.set(markKey, observed);

    const committed = await this.#ledger.lookupCommitted(entries, markKey);
    if (this.writes.size === 0 && this.indexBuilds.length === 0) return committed;
    const results = committed.filter((revision) => !this.writes.has(revision.id));
    // Documents indexed by an index this transaction created are not in the store's index yet.
    for (const build of this.indexBuilds) {
      if (!sameEntry(build.entry, entry) || results.some((revision) => revision.id === build.docId))
        continue;
      const revision = await this.#readDocument(table, build.docId);
      if (revision !== undefined) results.push(revision);
    }
    for (const write of this.writes.values()) {
      if (write.table.tableId !== table.tableId || write.binary === undefined) continue;
      if (write.indexEntries.some((own) => sameEntry(own, entry)))
        results.push(pendingRevision(write, this.id));
    }
    return results;
  }

  /** Read every current document of the table. The scan conflicts with any later write to the table. */
  async scan(tableName: string): Promise<Revision[]> {
    const table = this.#activeTable(tableName);
    if (!this.scans.has(table.tableId)) this.scans.set(table.tableId, this.#ledger.durableSeq());
    const results = await this.#ledger.withCurrentKeys(async () => {
      const stored = await this.#ledger.store.scanTable(this.#ledger.id, table.tableId);
      const committed: Revision[] = [];
      for (const row of stored) {
        if (this.writes.has(row.docId)) continue;
        committed.push(this.#ledger.toRevision(row));
      }
      return committed;
    });
    for (const write of this.writes.values()) {
      if (write.table.tableId === table.tableId && write.binary !== undefined) {
        results.push(pendingRevision(write, this.id));
      }
    }
    return results;
  }

  /**
   * Committed revisions of a table, by active name or by id (a dropped
   * table has only its id), that were active at some time in `[start, end]`
   * (epoch ms, inclusive). The read conflicts with any later write to the
   * table, like a scan.
   */
  async history(table: string, start?: number, end?: number): Promise<Revision[]> {
    this.#assertOpen();
    const definition = this.#snapshot().activeTable(table) ?? this.#snapshot().get(table);
    if (
      definition !== undefined &&
      definition.kind === 'table' &&
      !this.scans.has(definition.tableId)
    ) {
      this.scans.set(definition.tableId, this.#ledger.durableSeq());
    }
    return this.#ledger.tableHistory(table, start, end);
  }

  /**
   * Redact an inactive revision, as QLDB's `redact_revision` does. Once the
   * transaction commits, the revision's data is gone for good, replaced by
   * its Ion hash (`dataHash`). Its revision hash does not change, so its
   * block and every proof still verify. The revision is named by its block
   * address, its table id and its document id, and the committing block
   * records the redaction in its `redactionInfo`.
   */
  async redactRevision(
    blockAddress: BlockAddress,
    tableId: string,
    docId: string,
  ): Promise<RedactionInfo> {
    this.#assertOpen();
    const ledgerId = this.#ledger.id;
    if (this.redaction !== undefined) {
      const { documentId, version } = this.redaction.info;
      throw new LedgerError(
        'BadRequestException',
        `Transaction ${this.id} already redacts revision ${version} of document ${documentId}; ` +
          'a transaction may redact one revision, so redact the next one in a new transaction',
      );
    }
    if (blockAddress.strandId !== ledgerId) {
      throw new LedgerError(
        'BadRequestException',
        `The block address names strand ${blockAddress.strandId}, but this ledger's strand is ${ledgerId}`,
      );
    }
    const seq = blockAddress.sequenceNo;
    const last = this.#ledger.durableSeq();
    if (!Number.isSafeInteger(seq) || seq < 0 || seq > last) {
      throw new LedgerError(
        'BadRequestException',
        `Block ${seq} does not exist in this ledger; its last block is ${last}`,
      );
    }
    const table = this.#snapshot().get(tableId);
    if (table === undefined || table.kind !== 'table') {
      throw new LedgerError('BadRequestException', `No table with id ${tableId} exists`);
    }
    const store = this.#ledger.store;
    // Read before the revision, so that a redaction committed meanwhile
    // conflicts with this one.
    const observed = this.#ledger.durableSeq();
    const stored = isId(docId)
      ? (await store.getBlockRevisions(ledgerId, seq)).find((row) => row.docId === docId)
      : undefined;
    if (stored === undefined) {
      throw new LedgerError(
        'BadRequestException',
        `Block ${seq} holds no revision of document ${docId}; find the block address of the ` +
          `revision with SELECT * FROM history(${table.name}) AS h WHERE h.metadata.id = '${docId}'`,
      );
    }
    if (stored.tableId !== tableId) {
      throw new LedgerError(
        'BadRequestException',
        `Revision ${stored.version} of document ${docId} belongs to table ${stored.tableId}, not ${tableId}`,
      );
    }
    if (stored.deleted) {
      throw new LedgerError(
        'BadRequestException',
        `Revision ${stored.version} of document ${docId} is its deletion and holds no data to redact`,
      );
    }
    if (!this.reads.has(docId)) this.reads.set(docId, observed);
    const current = await store.getDocument(ledgerId, docId);
    if (current !== undefined && current.version === stored.version) {
      throw new LedgerError(
        'BadRequestException',
        `Revision ${stored.version} of document ${docId} is its latest active revision, which ` +
          'cannot be redacted; only revisions that a later update or delete replaced can be',
      );
    }
    const revision = await this.#ledger.withCurrentKeys(async () =>
      this.#ledger.toRevision(stored),
    );
    if (revision.redacted) {
      throw new LedgerError(
        'BadRequestException',
        `Revision ${stored.version} of document ${docId} is already redacted`,
      );
    }
    const dataHash = ionHash(revision.data!);
    const metadataHash = hashMetadata(revision.metadata);
    if (!Buffer.from(dot(metadataHash, dataHash)).equals(stored.hash)) {
      throw new LedgerError(
        'BadRequestException',
        `Revision ${stored.version} of document ${docId} does not match its stored hash, so it ` +
          'was not redacted; run vellum verify on the ledger',
      );
    }
    const row = {
      docId: stored.docId,
      version: stored.version,
      tableId: stored.tableId,
      blockSeq: stored.blockSeq,
      txTime: stored.txTime,
      txId: stored.txId,
      hash: stored.hash,
      deleted: stored.deleted,
    };
    const info: RedactionInfo = {
      blockAddress: { strandId: ledgerId, sequenceNo: seq },
      tableId,
      documentId: docId,
      version: stored.version,
    };
    this.redaction = { info, revision: row, dataHash };
    return info;
  }

  // Completion.

  /**
   * Commit through the ledger's committer. When `commitDigest` is given it
   * must equal the digest of the statements received, as QLDB requires.
   */
  async commit(options: { commitDigest?: Uint8Array } = {}): Promise<CommitResult> {
    this.#assertOpen();
    if (
      options.commitDigest !== undefined &&
      !Buffer.from(options.commitDigest).equals(this.commitDigest)
    ) {
      throw new LedgerError('BadRequestException', "Digests don't match");
    }
    this.#state = 'committing';
    try {
      const result = await this.#ledger.submit(this);
      this.#state = 'committed';
      return result;
    } catch (error) {
      this.#state = error instanceof TransactionExpiredError ? 'expired' : 'aborted';
      throw error;
    }
  }

  /** Discard the transaction. Aborting a finished transaction does nothing. */
  abort(): void {
    if (this.#state === 'open') this.#state = 'aborted';
  }

  /** Build the journal's `transactionInfo` for this transaction's block. */
  transactionInfo(): TransactionInfo {
    const documents = new Map<
      string,
      { tableName: string; tableId: string; statements: number[] }
    >();
    for (const write of this.writes.values()) {
      documents.set(write.docId, {
        tableName: write.table.name,
        tableId: write.table.tableId,
        statements: [...write.statements].sort((a, b) => a - b),
      });
    }
    return { statements: this.statements, documents };
  }

  preparedRevisions(): PreparedRevision[] {
    return [...this.writes.values()].map((write) => ({
      docId: write.docId,
      version: write.version,
      tableId: write.table.tableId,
      dataHash: write.dataHash,
      plaintext: write.binary ?? new Uint8Array(0),
      indexEntries: write.indexEntries,
    }));
  }

  /** Write a block at commit even when the transaction recorded nothing, as a ledger's first block. */
  journalEvenIfEmpty(): void {
    this.#alwaysJournal = true;
  }

  /** True when committing would record nothing in the journal. */
  get empty(): boolean {
    return (
      !this.#alwaysJournal &&
      this.writes.size === 0 &&
      this.catalogChanges.size === 0 &&
      this.redaction === undefined &&
      this.statements.length === 0
    );
  }

  // Internals.

  #assertOpen(): void {
    if (this.#state !== 'open') {
      if (this.#state === 'expired') throw new TransactionExpiredError(this.id);
      throw new TransactionClosedError(this.id, this.#state);
    }
    if (this.expired) {
      this.#state = 'expired';
      throw new TransactionExpiredError(this.id);
    }
  }

  /**
   * Take the catalog snapshot and record when it was taken, together, so a
   * DDL commit after the snapshot is a conflict at commit.
   */
  #snapshot(): Catalog {
    if (this.#catalog === undefined) {
      this.#catalog = this.#ledger.catalog();
      this.catalogObservedAt = this.#ledger.durableSeq();
      this.keyEpochObserved = this.#ledger.keyEpoch();
    }
    return this.#catalog;
  }

  /**
   * Abort the transaction with an OCC conflict when the ledger's key for new
   * writes changed after the transaction's first read. Its index keys so far
   * are MACs under the old key, so its lookups would miss its own writes,
   * and its commit would fail anyway.
   */
  #assertKeyUnchanged(): void {
    if (this.keyEpochObserved === this.#ledger.keyEpoch()) return;
    this.#state = 'aborted';
    throw new OccConflictError(
      this.id,
      `The data key of the ledger changed during transaction ${this.id}, so it cannot commit; run it again`,
    );
  }

  #activeTable(name: string): TableDefinition {
    this.#assertOpen();
    this.#snapshot();
    this.#assertKeyUnchanged();
    const table = this.#snapshot().activeTable(name);
    if (table === undefined) {
      throw new LedgerError('BadRequestException', `Table ${name} does not exist or is not active`);
    }
    return table;
  }

  #assertTableQuotas(tables: TableDefinition[]): void {
    const active = tables.filter((table) => table.status === 'ACTIVE').length;
    if (active >= MAX_ACTIVE_TABLES) {
      throw new QuotaExceededError(
        `The ledger already has ${MAX_ACTIVE_TABLES} active tables, the maximum; drop a table first`,
      );
    }
  }

  #changeCatalog(object: CatalogObject): void {
    if (!this.#catalogChanged) {
      this.#catalog = this.#snapshot().clone();
      this.#catalogChanged = true;
    }
    this.#catalog!.put(object);
    this.catalogChanges.set(object.kind === 'table' ? object.tableId : object.indexId, object);
  }

  async #readDocument(table: TableDefinition, docId: string): Promise<Revision | undefined> {
    if (!isId(docId)) return undefined;
    const pending = this.writes.get(docId);
    if (pending !== undefined) {
      if (pending.table.tableId !== table.tableId || pending.binary === undefined) return undefined;
      return pendingRevision(pending, this.id);
    }
    const observed = this.#ledger.durableSeq();
    if (!this.reads.has(docId)) this.reads.set(docId, observed);
    return this.#ledger.withCurrentKeys(async () => {
      const stored = await this.#ledger.store.getDocument(this.#ledger.id, docId);
      if (stored === undefined || stored.deleted || stored.tableId !== table.tableId)
        return undefined;
      return this.#ledger.toRevision(stored);
    });
  }

  async #requireDocument(table: TableDefinition, docId: string): Promise<Revision> {
    const current = await this.#readDocument(table, docId);
    if (current === undefined) {
      throw new LedgerError(
        'BadRequestException',
        `Document ${docId} does not exist in table ${table.name}`,
      );
    }
    return current;
  }

  async #prepareWrite(
    table: TableDefinition,
    docId: string,
    version: number,
    data: DocumentInput,
    replacedEntries: IndexEntry[],
  ): Promise<PendingWrite> {
    const indexes = this.#snapshot().indexesOf(table.tableId);
    const { binary, hash, keys } = encodeDocument(data, indexes);
    if (binary.length > MAX_DOCUMENT_BYTES) {
      throw new QuotaExceededError(
        `Document is ${binary.length} bytes of Ion binary; the maximum is ${MAX_DOCUMENT_BYTES}`,
      );
    }
    const indexEntries: IndexEntry[] = [];
    indexes.forEach((index, i) => {
      const key = keys[i];
      if (key !== undefined) indexEntries.push(this.#indexEntry(index, key));
    });
    if (indexes.some((index) => index.unique)) {
      await this.#checkUnique(table, docId, indexes, keys);
    }

    const statements = new Set(this.writes.get(docId)?.statements);
    if (this.#currentStatement >= 0) statements.add(this.#currentStatement);
    return {
      table,
      docId,
      version,
      binary,
      dataHash: hash,
      indexEntries,
      replacedEntries,
      statements,
    };
  }

  #addWrite(write: PendingWrite): void {
    const previous = this.writes.get(write.docId);
    const documents = this.writes.size + (previous === undefined ? 1 : 0);
    if (documents > MAX_DOCUMENTS_PER_TRANSACTION) {
      throw new QuotaExceededError(
        `Transaction ${this.id} would write ${documents} documents; the maximum is ${MAX_DOCUMENTS_PER_TRANSACTION}`,
      );
    }
    const bytes =
      this.#bytesWritten - (previous?.binary?.length ?? 0) + (write.binary?.length ?? 0);
    if (bytes > MAX_TRANSACTION_BYTES) {
      throw new QuotaExceededError(
        `Transaction ${this.id} would write ${bytes} bytes of documents; the maximum is ${MAX_TRANSACTION_BYTES}`,
      );
    }
    this.#bytesWritten = bytes;
    this.writes.set(write.docId, write);
    // The new revision carries every index entry itself, including those of
    // an index created earlier in this transaction.
    for (let i = this.indexBuilds.length - 1; i >= 0; i--) {
      if (this.indexBuilds[i]!.docId === write.docId) this.indexBuilds.splice(i, 1);
    }
  }

  #entriesOf(table: TableDefinition, data: dom.Value | undefined): IndexEntry[] {
    const entries: IndexEntry[] = [];
    if (data === undefined) return entries;
    for (const index of this.#snapshot().indexesOf(table.tableId)) {
      const value = fieldOf(data, index.field);
      if (value !== undefined) entries.push(this.#indexEntry(index, value));
    }
    return entries;
  }

  /** Raise `BadRequestException` when another document has a key of a unique index. `keys` follow `indexes`. */
  async #checkUnique(
    table: TableDefinition,
    docId: string,
    indexes: readonly IndexDefinition[],
    keys: ReadonlyArray<dom.Value | undefined>,
  ): Promise<void> {
    for (const [i, index] of indexes.entries()) {
      const value = keys[i];
      if (!index.unique || value === undefined) continue;
      const holders = await this.lookup(table.name, index.field, value);
      if (holders.some((holder) => holder.id !== docId)) {
        throw new LedgerError(
          'BadRequestException',
          `Unique index on ${table.name}.${index.field} already contains the value ${describe(value)}`,
        );
      }
    }
  }

  #indexEntry(index: IndexDefinition, value: dom.Value): IndexEntry {
    return indexEntryOf(index, value, this.#ledger.cipher);
  }
}

/**
 * Ion Hashes of statement texts. Applications repeat a few statements with
 * new parameters, so most transactions find their texts here. The cache is
 * emptied when it fills, which bounds it without tracking recency.
 */
const statementHashes = new Map<string, Uint8Array>();
const MAX_CACHED_STATEMENTS = 1000;

function statementHash(statement: string): Uint8Array {
  let hash = statementHashes.get(statement);
  if (hash === undefined) {
    hash = hashString(statement);
    if (statementHashes.size >= MAX_CACHED_STATEMENTS) statementHashes.clear();
    statementHashes.set(statement, hash);
  }
  return hash;
}

/** Build the key of an index entry in conflict marks and the read cache. */
export function indexMarkKey(entry: IndexEntry): string {
  const mac = entry.keyMac;
  return entry.indexId + Buffer.from(mac.buffer, mac.byteOffset, mac.length).toString('latin1');
}

function sameEntry(a: IndexEntry, b: IndexEntry): boolean {
  return a.indexId === b.indexId && Buffer.from(a.keyMac).equals(b.keyMac);
}

function fieldOf(data: dom.Value | undefined, field: string): dom.Value | undefined {
  if (data === undefined) return undefined;
  return data.get(field) ?? undefined;
}

/**
 * Return a document's Ion binary, its Ion hash and its keys in `indexes`,
 * or raise `BadRequestException` for anything but a struct or a plain object.
 * A plain object's keys are the field values the walk wrote: a getter is
 * not called twice, and a nested value is decoded from the binary.
 */
function encodeDocument(
  data: DocumentInput,
  indexes: readonly IndexDefinition[],
): { binary: Uint8Array; hash: Uint8Array; keys: Array<dom.Value | undefined> } {
  if (isDomValue(data)) {
    if (data.getType() !== IonTypes.STRUCT || data.isNull()) {
      throw new LedgerError(
        'BadRequestException',
        `A document must be an Ion struct or a plain object, got ${dumpText(data).slice(0, 40)}; build one with ion-js load() or dom.Value.from()`,
      );
    }
    const { binary, hash } = encodeAndHash(data);
    return { binary, hash, keys: indexes.map((index) => fieldOf(data, index.field)) };
  }
  if (isForeignIonValue(data)) {
    throw new LedgerError(
      'BadRequestException',
      `The document ${FOREIGN_ION_VALUE}, or pass a plain object`,
    );
  }
  if (!isDocumentObject(data)) {
    throw new LedgerError(
      'BadRequestException',
      `A document must be an Ion struct or a plain object, got ${describeJsValue(data)}; pass an object of fields, or build a struct with ion-js load() or dom.Value.from()`,
    );
  }
  const written = new Array<unknown>(indexes.length);
  const observe =
    indexes.length === 0
      ? undefined
      : (name: string, value: unknown) => {
          for (let i = 0; i < indexes.length; i++) {
            if (indexes[i]!.field === name) written[i] = value;
          }
        };
  let encoded: { binary: Uint8Array; hash: Uint8Array };
  try {
    // A value takes at least a byte, so a walk this long is over the size limit.
    encoded = encodeAndHashJs(data, observe, MAX_DOCUMENT_BYTES);
  } catch (error) {
    if (error instanceof JsValueLimitError) {
      throw new QuotaExceededError(
        `Document has more than ${error.maxValues} values, so its Ion binary is over the maximum of ${MAX_DOCUMENT_BYTES} bytes`,
      );
    }
    // NOTE: an error that a getter of the document throws itself, other than
    // a TypeError or RangeError, reaches the caller unchanged.
    throw asBadRequest(error, 'Invalid document');
  }

  let decoded: dom.Value | undefined;
  const keys = indexes.map((index, i) => {
    const value = written[i];
    if (value === undefined) return undefined;
    const scalar = scalarKey(value);
    if (scalar !== undefined) return scalar;
    decoded ??= load(encoded.binary)!;
    return decoded.get(index.field) ?? undefined;
  });
  return { ...encoded, keys };
}

/** Return a JavaScript scalar (string, number, boolean, bigint, null) as a dom value, or undefined for anything else. */
function scalarKey(value: unknown): dom.Value | undefined {
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean' || type === 'bigint') {
    return dom.Value.from(value);
  }
  return value === null ? dom.Value.from(null) : undefined;
}

/** Turn an error about a value with no Ion form into `BadRequestException`; return other errors as they are. */
function asBadRequest(error: unknown, prefix: string): unknown {
  if (error instanceof TypeError || error instanceof RangeError) {
    return new LedgerError('BadRequestException', `${prefix}: ${error.message}`);
  }
  return error;
}

/** Return a lookup key as a dom value, or raise `BadRequestException` for a value with no Ion form. */
function lookupValue(key: unknown): dom.Value {
  if (isDomValue(key)) return key;
  const scalar = scalarKey(key);
  if (scalar !== undefined) return scalar;
  try {
    // Written as a field value of a plain object is, so that both give the same key.
    const writer = new IonBinaryWriter();
    writeJsValue(writer, key);
    return load(writer.finish())!;
  } catch (error) {
    throw asBadRequest(error, 'Invalid lookup value');
  }
}

function isDomValue(data: unknown): data is dom.Value {
  return data instanceof dom.Value;
}

function pendingRevision(write: PendingWrite, txId: string): Revision {
  return new Revision(
    write.table.tableId,
    { id: write.docId, version: write.version, txTime: Number.NaN, txId },
    undefined,
    undefined,
    write.binary,
  );
}

function validateName(what: string, name: string): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new LedgerError(
      'BadRequestException',
      `Invalid ${what} ${JSON.stringify(name)}: use 1 to 128 letters, digits or underscores, starting with a letter or underscore`,
    );
  }
}

function describe(value: dom.Value): string {
  const text = dumpText(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
