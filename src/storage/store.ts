/**
 * The storage contract under the ledger engine. The engine encrypts every
 * value that a user wrote before it reaches a store, so a store only receives
 * opaque payloads, random identifiers, hashes, sequence numbers and times.
 *
 * Every implementation must pass the contract suite in
 * `test/unit/storage/store-contract.test.ts` unchanged.
 */

/** A ledger's persistent record. `settings` is engine-owned JSON. */
export interface LedgerRecord {
  /** Ledger name, unique within the store. */
  name: string;
  /** The ledger's strand id (22-character base62); also its key in every other table. */
  id: string;
  /** Creation time, epoch milliseconds. */
  createdAt: number;
  /** Engine-owned JSON: state, permissions mode, deletion protection, tags. */
  settings: string;
  /** The data key that seals new writes, wrapped by its key-encryption key. */
  wrappedKey: Uint8Array;
  /**
   * The generation of `wrappedKey`: 0 for the ledger's first key, one more
   * at each rekey. Absent on input means 0; stores always return it.
   */
  keyGeneration?: number;
  /**
   * While a rekey runs: the data key it replaces, which still opens what it
   * sealed. `finishRekey` deletes it.
   */
  retiringKey?: WrappedDataKey;
}

/** A data key of a ledger, wrapped, with its generation. */
export interface WrappedDataKey {
  generation: number;
  wrappedKey: Uint8Array;
}

/** One revision of a document as the store keeps it. */
export interface StoredRevision {
  docId: string;
  version: number;
  tableId: string;
  blockSeq: number;
  /** Commit time, epoch milliseconds. */
  txTime: number;
  /** Id of the transaction that wrote the revision. */
  txId: string;
  /** The revision hash (32 bytes). */
  hash: Uint8Array;
  /** Encrypted revision payload: metadata and data. */
  payload: Uint8Array;
  /** True for the revision written by a delete. */
  deleted: boolean;
}

/** A catalog object (table or index) with its encrypted definition. */
export interface StoredCatalogObject {
  objectId: string;
  kind: 'table' | 'index';
  /** Block sequence number of the transaction that last changed it. */
  blockSeq: number;
  payload: Uint8Array;
}

/** An index entry: the keyed MAC of an indexed value pointing at a document. */
export interface IndexEntry {
  indexId: string;
  keyMac: Uint8Array;
  /** The generation of the data key whose MAC key made `keyMac`; absent means 0. */
  generation?: number;
}

/** A stored index entry with the revision it belongs to. */
export interface StoredIndexEntry {
  docId: string;
  version: number;
  entry: IndexEntry;
}

/** An index entry MACed again under a new data key; see `Store.replaceIndexEntries`. */
export interface IndexEntryReplacement {
  docId: string;
  version: number;
  /** The stored entry, with the generation it has in the store. */
  from: IndexEntry;
  /** The same indexed value's entry under the new key. */
  to: IndexEntry;
}

/** Payloads sealed again under a new data key; see `Store.replaceSealed`. */
export interface SealedReplacements {
  blocks?: Array<{ seq: number; body: Uint8Array }>;
  /**
   * Revisions, each replaced only while its stored payload is still `from`,
   * so that a revision redacted meanwhile stays redacted.
   */
  revisions?: Array<{ docId: string; version: number; from: Uint8Array; payload: Uint8Array }>;
  /** Catalog objects, replaced only while their `blockSeq` is still the one given. */
  catalog?: Array<{ objectId: string; blockSeq: number; payload: Uint8Array }>;
}

export interface RevisionWrite extends StoredRevision {
  /** Index entries of the document's new state; they replace the old ones. */
  indexEntries: IndexEntry[];
}

/** The new payload of an earlier revision whose data a block redacts. */
export interface RedactionWrite {
  docId: string;
  version: number;
  /** Sealed like the revision's first payload, with the same columns bound. */
  payload: Uint8Array;
}

export interface MerkleNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

/** A block as the store keeps it; the body is the encrypted rest of the block. */
export interface StoredBlock {
  seq: number;
  txId: string;
  /** Block time, epoch milliseconds. */
  time: number;
  blockHash: Uint8Array;
  entriesHash: Uint8Array;
  previousHash: Uint8Array;
  body: Uint8Array;
}

export interface BlockWrite extends StoredBlock {
  revisions: RevisionWrite[];
  catalog: StoredCatalogObject[];
  /** Merkle nodes above the leaves completed by appending this block; a leaf is the block hash itself. */
  merkleNodes: MerkleNode[];
  /** Index entries for documents that an index created in this block covers. */
  indexAdds?: Array<{ docId: string; entry: IndexEntry }>;
  /**
   * Index entries of the revisions this block replaced or deleted. They are
   * kept so that `changesSince` can list every index key the block changed.
   */
  removedEntries?: IndexEntry[];
  /**
   * Earlier revisions whose data this block redacts: their payloads are
   * replaced in the same storage transaction, and each row records this
   * block as the one that redacted it, for `changesSince`. Everything else
   * of their rows stays as it is.
   */
  redactions?: RedactionWrite[];
}

/**
 * The changes made by the blocks after a sequence number, for a writer that
 * shares the store with other processes and must check its transactions'
 * reads against their commits.
 */
export interface JournalChanges {
  /** The last block of the journal, or undefined for an empty journal. */
  last: StoredBlock | undefined;
  /**
   * False when more blocks followed than the caller's limit: then the lists
   * below are empty and only `last` is set.
   */
  complete: boolean;
  /** Hashes of the blocks after the sequence number, in order. */
  blockHashes: Uint8Array[];
  /** Documents written by those blocks, one row per revision. */
  revisions: Array<{ docId: string; tableId: string; blockSeq: number }>;
  /** Index entries that those blocks added to or removed from documents. */
  indexEntries: Array<{ entry: IndexEntry; blockSeq: number }>;
  /** Earlier revisions whose data those blocks redacted, with the redacting block. */
  redactions: Array<{ docId: string; version: number; blockSeq: number }>;
  /** Catalog objects whose last change is in one of those blocks. */
  catalog: StoredCatalogObject[];
}

export interface TableHistoryQuery {
  tableId: string;
  /** Revisions committed at or before this time (epoch ms) are candidates. */
  until?: number;
}

/** A held append lock; see `Store.lockAppends`. */
export interface AppendLock {
  /** The changes of other writers' blocks, read once the lock was held; set when requested. */
  readonly changes?: JournalChanges;
  /**
   * True when another store waits for this lock. Rejects when the lock may
   * have been lost, such as with the connection that held it. The holder
   * then stops appending and releases it.
   */
  contended(): Promise<boolean>;
  /** Let other writers append again. Resolves once the lock is released. */
  release(): Promise<void>;
}

/**
 * One record of service state: a KMS key, an alias, a grant, an IAM user or
 * role. Services own the value's encoding and encrypt what needs it; the
 * store only keeps bytes under a key, with a version for compare-and-set.
 */
export interface StateRecord {
  /** The kind of record, such as `kms.key`; at most 64 characters. */
  namespace: string;
  /** The record's key within its namespace; at most 512 characters. */
  key: string;
  /** 1 for a new record, one more at each write. */
  version: number;
  value: Uint8Array;
}

/**
 * Persistent storage for ledgers. Every method may be called concurrently.
 * The store rejects an `appendBlocks` call that does not continue the
 * journal's last block, so several writers, in one process or in several,
 * never break the hash chain.
 *
 * A store whose database cannot be reached rejects calls with
 * `StoreUnavailableError`; the call may be retried once it is back.
 */
export interface Store {
  readonly kind: string;
  /**
   * True when this process is the only one that writes to the store. When
   * false, the engine takes the append lock and catches up with other
   * processes' blocks before it validates and appends.
   */
  readonly singleWriter: boolean;

  /** Release connections and files. The store is unusable afterwards. */
  close(): Promise<void>;

  /** The schema version the store runs at. */
  schemaVersion(): Promise<number>;

  createLedger(record: LedgerRecord): Promise<void>;
  getLedger(name: string): Promise<LedgerRecord | undefined>;
  listLedgers(): Promise<LedgerRecord[]>;
  updateLedgerSettings(name: string, settings: string): Promise<void>;
  /**
   * Replace the wrapped form of one of the ledger's data keys, such as after
   * its key-encryption key changed: the key of `generation` (the current
   * key's when absent), wherever the record holds it. With `expected`, only
   * while the stored wrapped form is still exactly `expected`, so that two
   * servers re-wrapping one key cannot undo each other. Resolves false, and
   * writes nothing, when the ledger has no key of that generation or its
   * wrapped form is not `expected`.
   */
  updateLedgerKey(
    name: string,
    wrappedKey: Uint8Array,
    generation?: number,
    expected?: Uint8Array,
  ): Promise<boolean>;

  /**
   * Start a rekey in one step: the current key, which must be of generation
   * `from`, becomes the retiring key, and `next` (a higher generation)
   * becomes the key for new writes. Rejects with `RekeyConflictError`, and
   * writes nothing, when the current key is of another generation or a
   * rekey is already running.
   */
  beginRekey(name: string, from: number, next: WrappedDataKey): Promise<void>;
  /**
   * End a rekey in one step: delete the retiring key of `generation` and
   * the removed index entries MACed under it. Rejects with
   * `RekeyConflictError`, and writes nothing, when the retiring key is not of
   * that generation or index entries of that generation remain.
   */
  finishRekey(name: string, generation: number): Promise<void>;
  /**
   * Write payloads sealed again under another key, in one storage
   * transaction. The stored payloads must hold the same plaintext. Blocks
   * never change once written, so they are replaced as they are. A revision
   * is replaced only while its payload is still `from`, because a redaction
   * may have replaced it. A catalog object is replaced only while it is
   * still at the given `blockSeq`.
   */
  replaceSealed(ledgerId: string, replacements: SealedReplacements): Promise<void>;
  /**
   * Index entries of one data key generation, in document id order after
   * `afterDocId` (exclusive; '' for the first page), every entry of a
   * document in the same page: at least one document and at most `limit`
   * entries unless one document has more.
   */
  listIndexEntries(
    ledgerId: string,
    generation: number,
    afterDocId: string,
    limit: number,
  ): Promise<StoredIndexEntry[]>;
  /**
   * Replace index entries by their counterparts under a new key, in one
   * storage transaction. Each replacement applies only while the document
   * still has the `from` entry at that version and generation, so an entry
   * that a newer revision replaced meanwhile stays replaced. Resolves with
   * the number of entries replaced.
   */
  replaceIndexEntries(ledgerId: string, replacements: IndexEntryReplacement[]): Promise<number>;
  /** Revisions written by blocks `from <= seq < to`, in block order and the order written. */
  getRevisionsInBlocks(ledgerId: string, from: number, to: number): Promise<StoredRevision[]>;
  /** Delete a ledger and everything it holds. */
  deleteLedger(name: string): Promise<void>;

  /**
   * Append blocks and everything they change in one storage transaction.
   * Resolves only once the transaction is durable. Rejects with
   * `SequenceConflictError` when `blocks[0].seq` is not the next sequence
   * number or `blocks[0].previousHash` is not the last block's hash, and
   * then writes nothing. Appends to one ledger are applied in call order.
   */
  appendBlocks(ledgerId: string, blocks: BlockWrite[]): Promise<void>;

  /**
   * Take the ledger's append lock until the returned lock is released.
   * Other stores' (other processes') `lockAppends` calls for the ledger wait
   * meanwhile, so writers that append only while holding it take turns: a
   * writer can catch up, validate and append without racing anyone.
   * `appendBlocks` itself does not wait for the lock, and keeps the journal
   * intact with or without it. A store with a single writer has no one to
   * wait for and resolves at once.
   *
   * With `catchUp`, the lock's `changes` are `changesSince(ledgerId,
   * catchUp.afterSeq, catchUp.maxBlocks)` as read once the lock is held, so
   * they include every append of the previous holder.
   */
  lockAppends(
    ledgerId: string,
    catchUp?: { afterSeq: number; maxBlocks: number },
  ): Promise<AppendLock>;

  /**
   * List what the blocks after `afterSeq` changed, read from one consistent
   * snapshot, with the journal's last block at that snapshot. When more than
   * `maxBlocks` blocks follow, only `last` is read and `complete` is false.
   */
  changesSince(ledgerId: string, afterSeq: number, maxBlocks?: number): Promise<JournalChanges>;

  /** The last block, or undefined for an empty journal. */
  lastBlock(ledgerId: string): Promise<StoredBlock | undefined>;
  getBlock(ledgerId: string, seq: number): Promise<StoredBlock | undefined>;
  /** Blocks with `from <= seq < to`, in order. */
  getBlocks(ledgerId: string, from: number, to: number): Promise<StoredBlock[]>;
  /** Revisions written by one block, in the order they were written. */
  getBlockRevisions(ledgerId: string, seq: number): Promise<StoredRevision[]>;

  /** Stored Merkle nodes, level 0 being the block hashes; a missing node is `undefined` at its position. */
  getMerkleNodes(
    ledgerId: string,
    nodes: ReadonlyArray<{ level: number; index: number }>,
  ): Promise<Array<Uint8Array | undefined>>;

  /** The catalog: every table and index definition of the ledger. */
  loadCatalog(ledgerId: string): Promise<StoredCatalogObject[]>;

  /** The current revision of a document, deleted or not. */
  getDocument(ledgerId: string, docId: string): Promise<StoredRevision | undefined>;
  /** Current, not deleted revisions of a table's documents, ordered by document id. */
  scanTable(ledgerId: string, tableId: string): Promise<StoredRevision[]>;
  /**
   * Current, not deleted revisions with an index entry that matches one of
   * `entries`, read from one snapshot. During a rekey a lookup passes the
   * value's entry under each data key the ledger holds; all name one index.
   */
  lookupIndex(
    ledgerId: string,
    entries: IndexEntry | readonly IndexEntry[],
  ): Promise<StoredRevision[]>;

  /** One revision by document id and version. */
  getRevision(
    ledgerId: string,
    docId: string,
    version: number,
  ): Promise<StoredRevision | undefined>;
  /** All revisions of a document, oldest first. */
  documentHistory(ledgerId: string, docId: string): Promise<StoredRevision[]>;
  /** Revisions of a table ordered by document id and version. */
  tableHistory(ledgerId: string, query: TableHistoryQuery): Promise<StoredRevision[]>;

  /** A state record, or undefined when there is none. */
  getState(namespace: string, key: string): Promise<StateRecord | undefined>;
  /** The records of a namespace whose keys start with `prefix`, ordered by key. */
  listState(namespace: string, prefix?: string): Promise<StateRecord[]>;
  /**
   * Write a state record if its stored version is `expectedVersion` (0 when
   * it must not exist yet), durably, and resolve with the new version.
   * Rejects with `StateConflictError` otherwise, and then writes nothing.
   */
  putState(
    namespace: string,
    key: string,
    value: Uint8Array,
    expectedVersion: number,
  ): Promise<number>;
  /**
   * Delete a state record if its stored version is `expectedVersion`.
   * Rejects with `StateConflictError` when it differs or the record is gone.
   */
  deleteState(namespace: string, key: string, expectedVersion: number): Promise<void>;
}

/** Raised by `putState` and `deleteState` when the record changed meanwhile. */
export class StateConflictError extends Error {
  constructor(
    readonly namespace: string,
    readonly key: string,
    readonly expected: number,
    readonly found: number,
  ) {
    super(
      `state record ${namespace}/${key} is at version ${found}, not ${expected}; read it again and retry`,
    );
    this.name = 'StateConflictError';
  }
}

/** Raised by `appendBlocks` when another writer appended first. */
export class SequenceConflictError extends Error {
  /**
   * `expected` is the next sequence number in the store and `received` the
   * first one of the call. They are equal when only the previous hash differs.
   */
  constructor(
    readonly expected: number,
    readonly received: number,
  ) {
    super(
      expected === received
        ? `block sequence conflict: block ${received} does not follow the stored block ${expected - 1} (previous hash differs)`
        : `block sequence conflict: the next block is ${expected}, got ${received}`,
    );
    this.name = 'SequenceConflictError';
  }
}

/**
 * Raised when the database cannot be reached, restarts or times out. A
 * write may or may not have taken effect. An append that did shows up as a
 * `SequenceConflictError` on the next append.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** Raised by `beginRekey` and `finishRekey` when the ledger's keys are not as expected. */
export class RekeyConflictError extends Error {
  constructor(
    readonly ledgerName: string,
    message: string,
  ) {
    super(message);
    this.name = 'RekeyConflictError';
  }
}

/** Raised by `appendBlocks` and `lockAppends` when the ledger was deleted. */
export class LedgerNotFoundError extends Error {
  constructor(readonly ledgerId: string) {
    super(`ledger ${ledgerId} does not exist`);
    this.name = 'LedgerNotFoundError';
  }
}

/** Raised by `createLedger` when the name is taken. */
export class LedgerExistsError extends Error {
  constructor(readonly ledgerName: string) {
    super(`ledger ${ledgerName} already exists`);
    this.name = 'LedgerExistsError';
  }
}

/** Raised by every method of a store after `close()`. */
export class StoreClosedError extends Error {
  constructor() {
    super(
      'the store is closed: the Engine that opened it was closed; open a new Engine on the data directory to use its ledgers',
    );
    this.name = 'StoreClosedError';
  }
}
