import type { BlockWrite, Store } from '../../storage/store.js';
import { OccConflictError, StorageUnavailableError, TransactionExpiredError } from '../errors.js';
import { buildBlock } from '../journal/block-builder.js';
import type { AppendPlan, BlockTree } from '../journal/block-tree.js';
import type { LedgerCipher } from '../keyring/ledger-cipher.js';
import { Catalog } from './catalog.js';
import { indexMarkKey, type CommitResult, type Transaction } from './transaction.js';

/** The most transactions written in one storage transaction. */
const MAX_BATCH = 256;

interface Pending {
  transaction: Transaction;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

export interface CommitterState {
  /** Sequence number of the last durable block, -1 for an empty journal. */
  seq: number;
  hash: Uint8Array;
  time: number;
}

/**
 * The single writer of one ledger's journal. Transactions queue here; each
 * drain validates them in arrival order against everything committed after
 * their reads (and against earlier ones of the same batch), turns the
 * survivors into blocks, and writes the whole batch in one storage
 * transaction. Each caller is answered only after that write is durable
 * (group commit), so one fsync covers many transactions.
 *
 * Conflict detection keeps, per document, index key and table, the sequence
 * number of the last block that changed it ("marks"). A read made when block
 * `s` was the last durable one conflicts with any mark above `s`.
 */
export class Committer {
  readonly #queue: Pending[] = [];
  #draining = false;

  readonly #documentMarks = new Map<string, number>();
  readonly #indexMarks = new Map<string, number>();
  readonly #tableMarks = new Map<string, number>();
  #catalogMark = -1;
  readonly #checkpoints: Array<{ time: number; seq: number }> = [];

  constructor(
    private readonly ledgerId: string,
    private readonly strandId: string,
    private readonly store: Store,
    private readonly cipher: LedgerCipher,
    private readonly tree: BlockTree,
    private readonly catalog: () => Catalog,
    private readonly applyCatalog: (catalog: Catalog) => void,
    private readonly transactionTimeoutMs: number,
    private tip: CommitterState,
  ) {}

  get durableSeq(): number {
    return this.tip.seq;
  }

  get tipHash(): Uint8Array {
    return this.tip.hash;
  }

  submit(transaction: Transaction): Promise<CommitResult> {
    return new Promise<CommitResult>((resolve, reject) => {
      this.#queue.push({ transaction, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        // Let every writer that is ready join this batch before it is cut.
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        await this.#commitBatch(this.#queue.splice(0, MAX_BATCH));
      }
    } finally {
      this.#draining = false;
    }
  }

  async #commitBatch(batch: Pending[]): Promise<void> {
    const accepted: Array<{ pending: Pending; result: CommitResult }> = [];
    const blocks: BlockWrite[] = [];
    let seq = this.tip.seq;
    let previousHash = this.tip.hash;
    let time = this.tip.time;
    let plan: AppendPlan | undefined;
    let catalog: Catalog | undefined;

    for (const pending of batch) {
      const { transaction } = pending;
      if (transaction.expired) {
        pending.reject(new TransactionExpiredError(transaction.id));
        continue;
      }
      if (!this.#valid(transaction)) {
        pending.reject(new OccConflictError(transaction.id));
        continue;
      }
      if (transaction.empty) {
        pending.resolve({
          transactionId: transaction.id,
          commitDigest: transaction.commitDigest,
          blockAddress: undefined,
        });
        continue;
      }

      seq += 1;
      time = Math.max(Date.now(), time);
      if (transaction.catalogChanges.size > 0) {
        catalog ??= this.catalog().clone();
        for (const object of transaction.catalogChanges.values()) catalog.put(object);
      }
      const block = buildBlock(
        {
          seq,
          txId: transaction.id,
          time,
          previousHash,
          info: transaction.transactionInfo(),
          revisions: transaction.preparedRevisions(),
          catalog: [...transaction.catalogChanges.values()].map((object) =>
            Catalog.encode(object, seq, this.cipher),
          ),
        },
        this.cipher,
      );
      block.indexAdds = transaction.indexBuilds;
      const nodesBefore = plan?.nodes.length ?? 0;
      plan = this.tree.planAppend(block.blockHash, plan);
      block.merkleNodes = plan.nodes.slice(nodesBefore);
      previousHash = block.blockHash;
      blocks.push(block);
      this.#mark(transaction, seq);
      accepted.push({
        pending,
        result: {
          transactionId: transaction.id,
          commitDigest: transaction.commitDigest,
          blockAddress: { strandId: this.strandId, sequenceNo: seq },
        },
      });
    }
    if (blocks.length === 0) return;

    try {
      await this.store.appendBlocks(this.ledgerId, blocks);
    } catch (error) {
      // Nothing of this batch is stored. The marks set above stay: they can
      // only turn a later commit into a conflict, never hide one.
      for (const { pending } of accepted) pending.reject(new StorageUnavailableError(error));
      return;
    }

    this.tree.commitAppend(plan!);
    this.tip = { seq, hash: previousHash, time };
    if (catalog !== undefined) this.applyCatalog(catalog);
    for (const { pending, result } of accepted) pending.resolve(result);
    this.#pruneMarks(seq);
  }

  #valid(transaction: Transaction): boolean {
    for (const [docId, observed] of transaction.reads) {
      if ((this.#documentMarks.get(docId) ?? -1) > observed) return false;
    }
    for (const [key, observed] of transaction.indexReads) {
      if ((this.#indexMarks.get(key) ?? -1) > observed) return false;
    }
    for (const [tableId, observed] of transaction.scans) {
      if ((this.#tableMarks.get(tableId) ?? -1) > observed) return false;
    }
    const catalogObserved = transaction.catalogObservedAt;
    return catalogObserved === undefined || this.#catalogMark <= catalogObserved;
  }

  #mark(transaction: Transaction, seq: number): void {
    for (const write of transaction.writes.values()) {
      this.#documentMarks.set(write.docId, seq);
      this.#tableMarks.set(write.table.tableId, seq);
      for (const entry of write.indexEntries) this.#indexMarks.set(indexMarkKey(entry), seq);
      for (const entry of write.replacedEntries) this.#indexMarks.set(indexMarkKey(entry), seq);
    }
    for (const build of transaction.indexBuilds) this.#indexMarks.set(indexMarkKey(build.entry), seq);
    if (transaction.catalogChanges.size > 0) this.#catalogMark = seq;
  }

  /**
   * Forget marks that no open transaction can conflict with: a transaction
   * lives at most the timeout, so every read of a live one was made after
   * any block committed more than a timeout ago.
   */
  #pruneMarks(seq: number): void {
    const now = Date.now();
    const last = this.#checkpoints[this.#checkpoints.length - 1];
    if (last === undefined || now - last.time >= 1000) this.#checkpoints.push({ time: now, seq });

    const horizon = now - this.transactionTimeoutMs - 1000;
    let floor = -1;
    while (this.#checkpoints.length > 1 && this.#checkpoints[0]!.time < horizon) {
      floor = this.#checkpoints.shift()!.seq;
    }
    if (floor < 0) return;
    for (const marks of [this.#documentMarks, this.#indexMarks, this.#tableMarks]) {
      for (const [key, mark] of marks) if (mark <= floor) marks.delete(key);
    }
  }
}
