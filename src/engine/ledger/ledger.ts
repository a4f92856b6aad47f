import { dom } from 'ion-js';
import {
  StoreClosedError,
  type IndexEntry,
  type Store,
  type StoredBlock,
  type StoredRevision,
} from '../../storage/store.js';
import { JournalIntegrityError, LedgerError, OccConflictError } from '../errors.js';
import { merklePathOfList } from '../ion/index.js';
import { decodeBlockBody } from '../journal/block-body.js';
import { blockContext, redactedDataHash, revisionContext } from '../journal/block-builder.js';
import { BlockTree } from '../journal/block-tree.js';
import {
  blockAddressToIon,
  metadataToIon,
  timestampFromMillis,
  redactionInfoToIon,
  transactionInfoToIon,
} from '../journal/journal-ion.js';
import type { BlockAddress } from '../journal/journal-types.js';
import {
  KeyGenerationError,
  LedgerCipher,
  LedgerKeyring,
  PayloadIntegrityError,
} from '../keyring/ledger-cipher.js';
import { Catalog } from './catalog.js';
import { Committer } from './committer.js';
import { ReadCache } from './read-cache.js';
import { Revision } from './revision.js';
import { Transaction, type CommitResult, type LedgerAccess } from './transaction.js';

export interface Digest {
  digest: Uint8Array;
  tipAddress: BlockAddress;
}

export interface LedgerOpenOptions {
  transactionTimeoutMs: number;
  /**
   * Load the ledger's keys as stored now, reusing the ciphers of `current`
   * for generations it holds. Called when a read meets a payload of a
   * generation the ledger does not hold, and on a shared store at every
   * catch-up. Resolves with `current` itself when nothing changed. Without
   * it, the keys given at open are the only ones.
   */
  loadKeys?: (current: LedgerKeyring) => Promise<LedgerKeyring>;
}

/**
 * An open ledger: its catalog, committer and block tree, with the read side
 * of the journal (digests, blocks, revisions and their proofs).
 */
export class Ledger implements LedgerAccess {
  #catalog: Catalog;
  #keyring: LedgerKeyring;
  #keyEpoch = 0;
  #keysLoading: Promise<void> | undefined;
  readonly #loadKeys: LedgerOpenOptions['loadKeys'];
  readonly #committer: Committer;
  readonly #readCache: ReadCache;
  readonly #tree: BlockTree;
  /** Commits submitted and not yet settled, which `close` waits for. */
  #submitted = 0;
  #closed = false;

  private constructor(
    readonly name: string,
    readonly id: string,
    readonly store: Store,
    keyring: LedgerKeyring,
    readonly transactionTimeoutMs: number,
    catalog: Catalog,
    tree: BlockTree,
    tip: { seq: number; hash: Uint8Array; time: number },
    loadKeys: LedgerOpenOptions['loadKeys'],
  ) {
    this.#catalog = catalog;
    this.#keyring = keyring;
    this.#loadKeys = loadKeys;
    this.#tree = tree;
    const cache = new ReadCache();
    this.#readCache = cache;
    this.#committer = new Committer({
      ledgerId: id,
      store,
      cipher: () => this.#keyring,
      keyEpoch: () => this.#keyEpoch,
      refreshKeys:
        store.singleWriter || loadKeys === undefined ? undefined : () => this.reloadKeys(),
      tree,
      catalog: () => this.#catalog,
      applyCatalog: (next) => {
        this.#catalog = next;
      },
      transactionTimeoutMs,
      tip,
      onDurable: (markKeys) => cache.invalidate(markKeys),
      reload: async () => {
        this.#catalog = await this.withCurrentKeys(async () =>
          Catalog.decode(await store.loadCatalog(id), this.#keyring),
        );
        cache.clear();
      },
    });
  }

  static async open(
    name: string,
    id: string,
    store: Store,
    keys: LedgerKeyring | LedgerCipher,
    options: LedgerOpenOptions,
  ): Promise<Ledger> {
    let keyring = keys instanceof LedgerCipher ? new LedgerKeyring(keys) : keys;
    let rows = await store.loadCatalog(id);
    let catalog: Catalog;
    try {
      catalog = Catalog.decode(rows, keyring);
    } catch (error) {
      // A rekey elsewhere changed the keys after they were read.
      if (!(error instanceof KeyGenerationError) || options.loadKeys === undefined) throw error;
      keyring = await options.loadKeys(keyring);
      rows = await store.loadCatalog(id);
      catalog = Catalog.decode(rows, keyring);
    }
    const last = await store.lastBlock(id);
    const tree = new BlockTree((nodes) => store.getMerkleNodes(id, nodes));
    if (last !== undefined) await tree.load(last.seq + 1);
    const tip =
      last === undefined
        ? { seq: -1, hash: new Uint8Array(0), time: 0 }
        : { seq: last.seq, hash: last.blockHash, time: last.time };
    return new Ledger(
      name,
      id,
      store,
      keyring,
      options.transactionTimeoutMs,
      catalog,
      tree,
      tip,
      options.loadKeys,
    );
  }

  // Keys.

  /** The data keys the ledger has in memory now. */
  get cipher(): LedgerKeyring {
    return this.#keyring;
  }

  keyEpoch(): number {
    return this.#keyEpoch;
  }

  /**
   * Replace the ledger's keys, as each step of a rekey does. When the key
   * for new writes changes, every open transaction that has read anything
   * fails with an OCC conflict at its next statement or at commit, since its
   * index reads were MACs under the old key. Cached reads are dropped either
   * way.
   */
  useKeys(keyring: LedgerKeyring): void {
    if (keyring === this.#keyring) return;
    if (keyring.generation !== this.#keyring.generation) this.#keyEpoch += 1;
    this.#keyring = keyring;
    this.#readCache.clear();
  }

  /** Load the keys as stored again; concurrent callers share one load. */
  reloadKeys(): Promise<void> {
    const loadKeys = this.#loadKeys;
    if (loadKeys === undefined) return Promise.resolve();
    this.#keysLoading ??= loadKeys(this.#keyring)
      .then((keyring) => this.useKeys(keyring))
      .finally(() => {
        this.#keysLoading = undefined;
      });
    return this.#keysLoading;
  }

  async withCurrentKeys<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof KeyGenerationError) || this.#loadKeys === undefined) throw error;
      await this.reloadKeys();
      return read();
    }
  }

  /** Run `run` with the journal to itself; see `Committer.exclusive`. */
  exclusive<T>(run: () => Promise<T>): Promise<T> {
    return this.#committer.exclusive(run);
  }

  /** Number of document and index keys the committer holds for conflict checks. */
  get conflictKeys(): number {
    return this.#committer.conflictKeys;
  }

  // LedgerAccess, for transactions.

  catalog(): Catalog {
    return this.#catalog;
  }

  durableSeq(): number {
    return this.#committer.durableSeq;
  }

  submit(transaction: Transaction): Promise<CommitResult> {
    if (this.#closed) return Promise.reject(new StoreClosedError());
    const result = this.#committer.submit(transaction);
    this.#submitted += 1;
    result.then(this.#settled, this.#settled);
    return result;
  }

  readonly #settled = (): void => {
    this.#submitted -= 1;
  };

  /**
   * Stop taking work and wait for the commits already submitted, so that
   * closing the store does not cut them off. Transactions begun but not yet
   * committing fail with `StoreClosedError` when they commit.
   */
  async close(): Promise<void> {
    this.#closed = true;
    // A commit that a store outage holds up is given up on after the
    // transaction timeout; closing the store then fails it.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.transactionTimeoutMs);
      timer.unref();
    });
    const drained = (async () => {
      while (this.#submitted > 0) await new Promise((resolve) => setTimeout(resolve, 2));
    })();
    await Promise.race([drained, timeout]);
    clearTimeout(timer);
  }

  async lookupCommitted(entries: IndexEntry[], markKey: string): Promise<Revision[]> {
    const cache = this.#readCache;
    const cached = cache.get(markKey);
    if (cached !== undefined) {
      return cached.map(({ stored, plaintext }) => this.#revision(stored, plaintext));
    }
    const generation = cache.generation;
    const decrypted = await this.withCurrentKeys(async () => {
      const rows = await this.store.lookupIndex(this.id, entries);
      return rows.map((stored) => ({ stored, plaintext: this.#decrypt(stored) }));
    });
    cache.set(markKey, decrypted, generation);
    return decrypted.map(({ stored, plaintext }) => this.#revision(stored, plaintext));
  }

  toRevision(stored: StoredRevision): Revision {
    return this.#revision(stored, this.#decrypt(stored));
  }

  #decrypt(stored: StoredRevision): Uint8Array | undefined {
    let plaintext: Uint8Array;
    try {
      plaintext = this.#keyring.open(stored.payload, revisionContext(stored));
    } catch (error) {
      if (!(error instanceof PayloadIntegrityError)) throw error;
      throw new JournalIntegrityError(this.name, stored.blockSeq, error);
    }
    return stored.deleted ? undefined : plaintext;
  }

  #revision(stored: StoredRevision, plaintext: Uint8Array | undefined): Revision {
    const dataHash = plaintext === undefined ? undefined : redactedDataHash(plaintext);
    return new Revision(
      stored.tableId,
      { id: stored.docId, version: stored.version, txTime: stored.txTime, txId: stored.txId },
      { strandId: this.id, sequenceNo: stored.blockSeq },
      stored.hash,
      dataHash === undefined ? plaintext : undefined,
      undefined,
      dataHash,
    );
  }

  // Transactions.

  begin(): Transaction {
    if (this.#closed) throw new StoreClosedError();
    return new Transaction(this);
  }

  /**
   * Run `body` in a transaction and commit it, retrying from the start on an
   * OCC conflict up to `retryLimit` more times (4 by default), after a random
   * wait that grows with each attempt, as the QLDB driver does.
   */
  async run<T>(
    body: (transaction: Transaction) => Promise<T>,
    options: { retryLimit?: number } = {},
  ): Promise<T> {
    const retryLimit = options.retryLimit ?? 4;
    for (let attempt = 0; ; attempt++) {
      const transaction = this.begin();
      try {
        const value = await body(transaction);
        await transaction.commit();
        return value;
      } catch (error) {
        transaction.abort();
        if (!(error instanceof OccConflictError) || attempt >= retryLimit) throw error;
      }
      // Back off as the QLDB driver does: a random wait up to 10 ms, doubled
      // with each attempt and capped at 5 s, so that colliding writers spread.
      const ceiling = Math.min(5000, 10 * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
  }

  // Journal reads.

  /**
   * Catch up with blocks that other processes sharing the store appended,
   * so that digests, proofs and the catalog include them. Commits catch up
   * by themselves; this is for readers. Does nothing on a single-writer store.
   *
   * NOTE: a new transaction sees tables and indexes that another process
   * created only once this ledger has caught up (after a commit, a digest or
   * this call); until then, using such a table fails with BadRequestException.
   */
  async sync(): Promise<void> {
    await this.#committer.refresh();
  }

  /**
   * Compute the digest over every block so far, with the address of the
   * last block. On a shared store it first catches up with other processes.
   */
  async digest(): Promise<Digest> {
    await this.#committer.refresh();
    const tipSeq = this.#tree.size - 1;
    if (tipSeq < 0) {
      throw new LedgerError(
        'ResourcePreconditionNotMetException',
        `Ledger ${this.name} has no blocks yet`,
      );
    }
    return {
      digest: await this.#tree.root(),
      tipAddress: { strandId: this.id, sequenceNo: tipSeq },
    };
  }

  /** Compute the digest as of an earlier tip. */
  async digestAt(tipSeq: number): Promise<Uint8Array> {
    await this.#reach(tipSeq);
    this.#checkTip(tipSeq);
    return this.#tree.root(tipSeq + 1);
  }

  /** A block as an Ion value, and its proof against the digest at `tipSeq` when given. */
  async getBlock(
    seq: number,
    tipSeq?: number,
  ): Promise<{ block: dom.Value; proof?: Uint8Array[] }> {
    const block = await this.withCurrentKeys(async () =>
      this.#blockToIon(await this.#storedBlock(seq)),
    );
    if (tipSeq === undefined) return { block };
    await this.#reach(tipSeq);
    this.#checkTip(tipSeq, seq);
    return { block, proof: await this.#tree.inclusionPath(seq, tipSeq + 1) };
  }

  /**
   * Read a revision as an Ion value (`{blockAddress, hash, data, metadata}`),
   * with its proof against the digest at `tipSeq` when given. The proof lists
   * the siblings in the block's revision list, then in its entries list, then
   * the previous block hash, then the block's path in the block tree.
   */
  async getRevision(
    seq: number,
    docId: string,
    tipSeq?: number,
  ): Promise<{ revision: dom.Value; proof?: Uint8Array[] }> {
    return this.withCurrentKeys(() =>
      this.#naming(seq, () => this.#getRevision(seq, docId, tipSeq)),
    );
  }

  async #getRevision(
    seq: number,
    docId: string,
    tipSeq?: number,
  ): Promise<{ revision: dom.Value; proof?: Uint8Array[] }> {
    const stored = await this.#storedBlock(seq);
    const revisions = await this.store.getBlockRevisions(this.id, seq);
    const position = revisions.findIndex((revision) => revision.docId === docId);
    if (position < 0) {
      throw new LedgerError(
        'InvalidParameterException',
        `Block ${seq} of ledger ${this.name} holds no revision of document ${docId}`,
      );
    }
    const revision = revisionToIon(this.toRevision(revisions[position]!));
    if (tipSeq === undefined) return { revision };

    await this.#reach(tipSeq);
    this.#checkTip(tipSeq, seq);
    const body = decodeBlockBody(this.#keyring.open(stored.body, blockContext(stored)));
    const proof = [
      ...merklePathOfList(
        revisions.map((r) => r.hash),
        position,
      ),
      ...merklePathOfList(body.entriesHashList, body.entriesHashList.length - 1),
    ];
    if (stored.previousHash.length > 0) proof.push(stored.previousHash);
    proof.push(...(await this.#tree.inclusionPath(seq, tipSeq + 1)));
    return { revision, proof };
  }

  /** RFC 9162 consistency proof from the digest at `fromTip` to the one at `toTip`. */
  async consistencyProof(fromTip: number, toTip: number): Promise<Uint8Array[]> {
    await this.#reach(Math.max(fromTip, toTip));
    this.#checkTip(fromTip);
    this.#checkTip(toTip, fromTip);
    return this.#tree.consistencyProof(fromTip + 1, toTip + 1);
  }

  /** Blocks `from <= seq < to` as Ion values, for export and verification. */
  async blocks(from: number, to: number): Promise<dom.Value[]> {
    return this.withCurrentKeys(async () => {
      const stored = await this.store.getBlocks(this.id, from, to);
      return Promise.all(stored.map((block) => this.#blockToIon(block)));
    });
  }

  /** Yield every block from `from` up to and including `tipSeq`, read in chunks. */
  async *exportBlocks(from = 0, tipSeq = this.tipSeq, chunk = 500): AsyncGenerator<dom.Value> {
    for (let start = from; start <= tipSeq; start += chunk) {
      yield* await this.blocks(start, Math.min(start + chunk, tipSeq + 1));
    }
  }

  /** Read every revision of a document, oldest first. */
  async documentHistory(docId: string): Promise<Revision[]> {
    return this.withCurrentKeys(async () => {
      const rows = await this.store.documentHistory(this.id, docId);
      return rows.map((row) => this.toRevision(row));
    });
  }

  /**
   * Read the revisions of a table, given by active name or by id (for a
   * dropped table), that were active at some time in `[start, end]`
   * (epoch ms, both inclusive): committed at or before `end` and not replaced
   * before `start`. Without bounds, the whole history.
   */
  async tableHistory(table: string, start?: number, end?: number): Promise<Revision[]> {
    const tableId = this.#resolveTable(table);
    return this.withCurrentKeys(async () => {
      const rows = await this.store.tableHistory(this.id, { tableId, until: end });
      const active: StoredRevision[] = [];
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!;
        const next = rows[i + 1];
        const replacedAt = next !== undefined && next.docId === row.docId ? next.txTime : undefined;
        if (start !== undefined && replacedAt !== undefined && replacedAt <= start) continue;
        // A deletion ends the document: it is in the window only if it happened there.
        if (start !== undefined && row.deleted && row.txTime < start) continue;
        active.push(row);
      }
      return active.map((row) => this.toRevision(row));
    });
  }

  #resolveTable(table: string): string {
    const byName = this.#catalog.activeTable(table);
    if (byName !== undefined) return byName.tableId;
    if (this.#catalog.get(table)?.kind === 'table') return table;
    throw new LedgerError(
      'BadRequestException',
      `No active table named ${table} and no table with that id in ledger ${this.name}`,
    );
  }

  get tipSeq(): number {
    return this.#tree.size - 1;
  }

  /**
   * Catch up with other processes sharing the store when block `seq` is past
   * the last one this process has seen, as for a digest that another server
   * returned. A catch-up already running may have started before that block,
   * so a second one follows when the first did not reach it.
   */
  async #reach(seq: number): Promise<void> {
    for (let attempt = 0; attempt < 2 && Number.isInteger(seq) && seq > this.tipSeq; attempt++) {
      await this.#committer.refresh();
    }
  }

  #checkTip(tipSeq: number, atLeast = 0): void {
    const last = this.#tree.size - 1;
    if (Number.isInteger(tipSeq) && tipSeq > last) {
      throw new LedgerError(
        'InvalidParameterException',
        `Digest tip address sequenceNo ${tipSeq} is past the ledger's last block, ${last}; ` +
          'use the DigestTipAddress that GetDigest returned',
      );
    }
    if (!Number.isInteger(tipSeq) || tipSeq < atLeast) {
      throw new LedgerError(
        'InvalidParameterException',
        `Digest tip address sequenceNo ${tipSeq} is before block ${atLeast}; a proof needs a ` +
          `digest tip between ${atLeast} and ${last}, such as a newer digest from GetDigest`,
      );
    }
  }

  async #storedBlock(seq: number): Promise<StoredBlock> {
    const stored =
      Number.isInteger(seq) && seq >= 0 ? await this.store.getBlock(this.id, seq) : undefined;
    if (stored === undefined) {
      throw new LedgerError(
        'InvalidParameterException',
        `Block ${seq} does not exist in ledger ${this.name}; its last block is ${this.#tree.size - 1}`,
      );
    }
    return stored;
  }

  async #blockToIon(stored: StoredBlock): Promise<dom.Value> {
    return this.#naming(stored.seq, () => this.#assembleBlock(stored));
  }

  /** Run a read of block `seq`, reporting a failed authentication as corruption of that block. */
  async #naming<T>(seq: number, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof PayloadIntegrityError)) throw error;
      throw new JournalIntegrityError(this.name, seq, error);
    }
  }

  async #assembleBlock(stored: StoredBlock): Promise<dom.Value> {
    const body = decodeBlockBody(this.#keyring.open(stored.body, blockContext(stored)));
    const revisions = await this.store.getBlockRevisions(this.id, stored.seq);
    const address = { strandId: this.id, sequenceNo: stored.seq };
    const fields: Record<string, unknown> = {
      blockAddress: blockAddressToIon(address),
      transactionId: stored.txId,
      blockTimestamp: timestampFromMillis(stored.time),
      blockHash: bytes(stored.blockHash),
      entriesHash: bytes(stored.entriesHash),
      previousBlockHash: bytes(stored.previousHash),
      entriesHashList: body.entriesHashList.map(bytes),
      transactionInfo: transactionInfoToIon(body.info),
    };
    if (body.redaction !== undefined) fields.redactionInfo = redactionInfoToIon(body.redaction);
    if (revisions.length > 0) {
      fields.revisions = revisions.map((revision) => revisionToIon(this.toRevision(revision)));
    }
    return dom.Value.from(fields);
  }
}

/**
 * Build the journal form of a revision: `{blockAddress, hash, data, metadata}`,
 * without data when deleted, and with `dataHash` in place of data when redacted.
 */
export function revisionToIon(revision: Revision): dom.Value {
  const fields: Record<string, unknown> = {
    blockAddress:
      revision.blockAddress === undefined ? null : blockAddressToIon(revision.blockAddress),
    hash: revision.hash === undefined ? null : bytes(revision.hash),
  };
  if (revision.dataHash !== undefined) fields.dataHash = bytes(revision.dataHash);
  else if (revision.data !== undefined) fields.data = revision.data;
  fields.metadata = metadataToIon(revision.metadata);
  return dom.Value.from(fields);
}

/** Return a plain Uint8Array view, since ion-js builds blobs only from that exact type, not from Buffer. */
function bytes(value: Uint8Array): Uint8Array {
  return value.constructor === Uint8Array
    ? value
    : new Uint8Array(value.buffer, value.byteOffset, value.length);
}
