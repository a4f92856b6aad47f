import {
  SequenceConflictError,
  type BlockWrite,
  type IndexEntry,
  type Store,
} from '../../storage/store.js';
import { OccConflictError, StorageUnavailableError, TransactionExpiredError } from '../errors.js';
import { buildBlock } from '../journal/block-builder.js';
import type { AppendPlan, BlockTree } from '../journal/block-tree.js';
import type { LedgerCipher } from '../keyring/ledger-cipher.js';
import { Catalog } from './catalog.js';
import { indexMarkKey, type CommitResult, type Transaction } from './transaction.js';

/** Maximum number of transactions written in one storage transaction. */
const MAX_BATCH = 256;
/**
 * Batches written at once: one being made durable while the next is
 * prepared, so hashing and sealing overlap with the store's write and fsync.
 */
const MAX_IN_FLIGHT = 2;

interface Pending {
  transaction: Transaction;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

/** The journal's end: the last block's sequence number (-1 when empty), hash and time. */
export interface JournalTip {
  seq: number;
  hash: Uint8Array;
  time: number;
}

interface PreparedBatch {
  generation: number;
  blocks: BlockWrite[];
  accepted: Array<{ pending: Pending; result: CommitResult }>;
  tip: JournalTip;
  plan: AppendPlan | undefined;
  catalog: Catalog | undefined;
  /** Index mark keys the batch changes, for the read cache. */
  indexKeys: string[];
}

export interface CommitterOptions {
  ledgerId: string;
  store: Store;
  cipher: LedgerCipher;
  tree: BlockTree;
  /** The committed catalog, and the hook that replaces it after a DDL commit. */
  catalog: () => Catalog;
  applyCatalog: (catalog: Catalog) => void;
  transactionTimeoutMs: number;
  tip: JournalTip;
  /** Called with the index mark keys a batch changed, once it is durable and before callers hear of it. */
  onDurable: (markKeys: string[]) => void;
  /** Reload the committed catalog and drop cached reads, after the store was found ahead of the committer. */
  reload: () => Promise<void>;
}

/**
 * The single writer of one ledger's journal. Transactions queue here, and
 * each batch is validated in arrival order against everything committed
 * after their reads, including earlier transactions of the same batch. The
 * survivors become blocks, and the whole batch is written in one storage
 * transaction.
 * Each commit promise resolves only after that write is durable (group
 * commit), so one fsync covers many transactions.
 *
 * Conflict detection keeps, per document, index key and table, the sequence
 * number of the last block that changed it ("marks"). A read made when block
 * `s` was the last durable one conflicts with any mark above `s`.
 */
export class Committer {
  readonly #options: CommitterOptions;
  readonly #queue: Pending[] = [];
  #scheduled = false;
  #inFlight = 0;

  /** The journal as durable in the store; reads observe at least this. */
  #durable: JournalTip;
  /** The journal after every batch sent to the store, durable or not. */
  #planned: { tip: JournalTip; plan: AppendPlan | undefined; catalog: Catalog | undefined };
  /** Raised when a write fails, so batches planned on top of it are not trusted. */
  #generation = 0;
  /** Set while the journal's end is reloaded from the store; nothing is planned meanwhile. */
  #resyncing: Promise<void> | undefined;

  readonly #documentMarks = new Map<string, number>();
  readonly #indexMarks = new Map<string, number>();
  readonly #tableMarks = new Map<string, number>();
  #catalogMark = -1;
  readonly #checkpoints: Array<{ time: number; seq: number }> = [];

  constructor(options: CommitterOptions) {
    this.#options = options;
    this.#durable = options.tip;
    this.#planned = { tip: options.tip, plan: undefined, catalog: undefined };
  }

  get durableSeq(): number {
    return this.#durable.seq;
  }

  submit(transaction: Transaction): Promise<CommitResult> {
    return new Promise<CommitResult>((resolve, reject) => {
      this.#queue.push({ transaction, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Let every writer that is ready join the batch before it is cut.
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#resyncing !== undefined) return;
    while (this.#queue.length > 0 && this.#inFlight < MAX_IN_FLIGHT) {
      // With nothing in flight, write half of the queue first, so the other
      // half is prepared while the first is made durable, and the writers
      // fall into two groups that keep both threads busy.
      const size = Math.ceil(this.#queue.length / (MAX_IN_FLIGHT - this.#inFlight));
      const pendings = this.#queue.splice(0, Math.min(size, MAX_BATCH));
      let batch: PreparedBatch | undefined;
      try {
        batch = this.#prepare(pendings);
      } catch (error) {
        // A bug here must not leave callers waiting forever. The planned tip
        // is only updated when preparing succeeds, so nothing else changes;
        // marks already set can only cause conflicts, never hide one.
        for (const pending of pendings) pending.reject(error);
        continue;
      }
      if (batch === undefined) continue;
      this.#inFlight += 1;
      void this.#write(batch).finally(() => {
        this.#inFlight -= 1;
        if (this.#queue.length > 0) this.#schedule();
      });
    }
  }

  #prepare(batch: Pending[]): PreparedBatch | undefined {
    const { cipher, tree } = this.#options;
    const accepted: PreparedBatch['accepted'] = [];
    const blocks: BlockWrite[] = [];
    const indexKeys: string[] = [];
    let { seq, hash, time } = this.#planned.tip;
    let plan = this.#planned.plan;
    let catalog = this.#planned.catalog;

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
        catalog = (catalog ?? this.#options.catalog()).clone();
        for (const object of transaction.catalogChanges.values()) catalog.put(object);
      }
      const block = buildBlock(
        {
          seq,
          txId: transaction.id,
          time,
          previousHash: hash,
          info: transaction.transactionInfo(),
          revisions: transaction.preparedRevisions(),
          catalog:
            transaction.catalogChanges.size === 0
              ? []
              : [...transaction.catalogChanges.values()].map((object) =>
                  Catalog.encode(object, seq, cipher),
                ),
        },
        cipher,
      );
      block.indexAdds = transaction.indexBuilds;
      plan = tree.planAppend(block.blockHash, plan);
      block.merkleNodes = plan.nodes;
      hash = block.blockHash;
      blocks.push(block);
      this.#mark(transaction, seq, indexKeys);
      accepted.push({
        pending,
        result: {
          transactionId: transaction.id,
          commitDigest: transaction.commitDigest,
          blockAddress: { strandId: this.#options.ledgerId, sequenceNo: seq },
        },
      });
    }
    if (blocks.length === 0) return undefined;

    const tip = { seq, hash, time };
    this.#planned = { tip, plan, catalog };
    return { generation: this.#generation, blocks, accepted, tip, plan, catalog, indexKeys };
  }

  async #write(batch: PreparedBatch): Promise<void> {
    try {
      await this.#options.store.appendBlocks(this.#options.ledgerId, batch.blocks);
    } catch (error) {
      // The store reported that nothing of this batch is stored, and a
      // batch planned on top of it will fail the store's sequence check.
      // Plan again from the durable tip, once per failure. A sequence
      // conflict on the first failed batch means the store holds blocks
      // this committer did not see durable (a write that succeeded but
      // reported failure), so it reloads the journal's end first.
      if (batch.generation === this.#generation) {
        this.#abandonPlanned();
        if (error instanceof SequenceConflictError) this.#resync();
      }
      for (const { pending } of batch.accepted) pending.reject(new StorageUnavailableError(error));
      return;
    }

    try {
      this.#options.tree.commitAppend(batch.plan!);
      this.#durable = batch.tip;
      this.#options.onDurable(batch.indexKeys);
      if (batch.catalog !== undefined) this.#options.applyCatalog(batch.catalog);
      if (this.#planned.tip.seq === batch.tip.seq) {
        // Everything planned is durable; later batches start from the committed state.
        this.#planned = { tip: batch.tip, plan: undefined, catalog: undefined };
      }
      this.#pruneMarks(batch.tip.seq);
    } finally {
      // The batch is durable, so its callers hear so whatever happened above.
      for (const { pending, result } of batch.accepted) pending.resolve(result);
    }
  }

  /**
   * Reload the journal's end, the block tree and the catalog from the store.
   * The blocks this committer did not see may have changed anything, so
   * every transaction that read the catalog before the reload (that is,
   * every transaction that read anything) conflicts at commit.
   */
  #resync(): void {
    this.#resyncing = (async () => {
      try {
        const last = await this.#options.store.lastBlock(this.#options.ledgerId);
        const tip =
          last === undefined
            ? this.#durable
            : { seq: last.seq, hash: last.blockHash, time: last.time };
        await this.#options.tree.load(tip.seq + 1);
        await this.#options.reload();
        this.#durable = tip;
        this.#planned = { tip, plan: undefined, catalog: undefined };
        this.#catalogMark = tip.seq;
      } finally {
        this.#resyncing = undefined;
        if (this.#queue.length > 0) this.#schedule();
      }
    })();
    // A failed reload is retried by the next failed write; callers see that write's error.
    this.#resyncing.catch(() => undefined);
  }

  /**
   * Drop every batch planned but not durable: raise the generation, plan
   * again from the durable tip, and lower the marks those batches set to the
   * durable tip. A lowered mark still turns any read older than the tip into
   * a conflict, but a read of the current state no longer conflicts with a
   * write that never happened. Runs once per failed write, before anything
   * is planned again. Every batch planned on top of the failed one fails
   * the store's sequence check, so none of their marks is real either.
   */
  #abandonPlanned(): void {
    this.#generation += 1;
    this.#planned = { tip: this.#durable, plan: undefined, catalog: undefined };
    const durable = this.#durable.seq;
    for (const marks of [this.#documentMarks, this.#indexMarks, this.#tableMarks]) {
      for (const [key, mark] of marks) if (mark > durable) marks.set(key, durable);
    }
    if (this.#catalogMark > durable) this.#catalogMark = durable;
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

  /** Set the marks of everything the transaction changes; the index keys are also added to `indexKeys`. */
  #mark(transaction: Transaction, seq: number, indexKeys: string[]): void {
    const markIndex = (entry: IndexEntry) => {
      const key = indexMarkKey(entry);
      this.#indexMarks.set(key, seq);
      indexKeys.push(key);
    };
    for (const write of transaction.writes.values()) {
      this.#documentMarks.set(write.docId, seq);
      this.#tableMarks.set(write.table.tableId, seq);
      write.indexEntries.forEach(markIndex);
      write.replacedEntries.forEach(markIndex);
    }
    for (const build of transaction.indexBuilds) markIndex(build.entry);
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

    const horizon = now - this.#options.transactionTimeoutMs - 1000;
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
