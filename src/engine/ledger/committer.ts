import {
  LedgerNotFoundError,
  SequenceConflictError,
  StoreClosedError,
  type BlockWrite,
  type IndexEntry,
  type JournalChanges,
  type Store,
  type StoredBlock,
} from '../../storage/store.js';
import {
  LedgerError,
  OccConflictError,
  StorageUnavailableError,
  TransactionExpiredError,
} from '../errors.js';
import { buildBlock } from '../journal/block-builder.js';
import type { AppendPlan, BlockTree } from '../journal/block-tree.js';
import type { LedgerKeyring } from '../keyring/ledger-cipher.js';
import { AppendTurns } from './append-turns.js';
import { Catalog } from './catalog.js';
import { indexMarkKey, type CommitResult, type Transaction } from './transaction.js';

/** Maximum number of transactions written in one storage transaction. */
const MAX_BATCH = 256;
/**
 * Batches written at once: one being made durable while the next is
 * prepared, so hashing and sealing overlap with the store's write and fsync.
 */
const MAX_IN_FLIGHT = 2;
/**
 * Times a transaction is prepared again after other processes sharing the
 * store appended first, before it fails with an OCC conflict so that its
 * caller retries from the start.
 */
const MAX_APPEND_ATTEMPTS = 16;
/**
 * A writer this many blocks behind the store reloads the journal's end and
 * treats every older read as stale, instead of fetching what each block changed.
 */
const MAX_CATCH_UP_BLOCKS = 10_000;

interface Pending {
  transaction: Transaction;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
  /** Appends of this transaction that lost the race to another process. */
  attempts: number;
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
  /** The ledger's keys now: new blocks are sealed with the current key. */
  cipher: () => LedgerKeyring;
  /** Changes whenever the key that seals new writes changes; see `Transaction.keyEpochObserved`. */
  keyEpoch: () => number;
  /**
   * On a store shared with other processes: load the ledger's keys again if
   * a rekey elsewhere changed them. Runs at every catch-up, before anything
   * is validated against the store's tip.
   */
  refreshKeys?: () => Promise<void>;
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
 *
 * On a store that other processes write to (`singleWriter` false), the
 * committer appends only during its turn at the ledger's append lock. A turn
 * starts by fetching what other processes' blocks changed and setting their
 * marks, so validation covers every commit before the batch. The store
 * accepts a batch only if it continues the tip that the batch was validated
 * against, so validation and append are atomic together. Should an append
 * still lose to another writer (a write that failed in doubt, or a writer
 * without the lock), the same transactions are caught up, validated and
 * prepared again.
 */
export class Committer {
  readonly #options: CommitterOptions;
  /** Turns at the append lock, on a store that other processes write to; undefined otherwise. */
  readonly #turns: AppendTurns | undefined;
  readonly #queue: Pending[] = [];
  /** Transactions of batches that lost an append race; they go before the queue, in order. */
  readonly #retry: Pending[] = [];
  /** Set when the store holds blocks this committer has not seen; nothing is planned until it catches up. */
  #behind = false;
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
  /** Work that needs the journal to itself; see `exclusive`. */
  readonly #exclusive: Array<{
    run: () => Promise<unknown>;
    resolve: (value: unknown) => void;
    reject: (error: unknown) => void;
  }> = [];
  readonly #checkpoints: Array<{ time: number; seq: number }> = [];

  constructor(options: CommitterOptions) {
    this.#options = options;
    this.#turns = options.store.singleWriter
      ? undefined
      : new AppendTurns(
          options.store,
          options.ledgerId,
          () => this.#queue.length === 0 && this.#retry.length === 0 && this.#inFlight === 0,
          () => this.#schedule(),
        );
    this.#durable = options.tip;
    this.#planned = { tip: options.tip, plan: undefined, catalog: undefined };
  }

  get durableSeq(): number {
    return this.#durable.seq;
  }

  /**
   * Number of document and index keys held for conflict checks. Each is
   * kept for the transaction timeout plus about a second after its last
   * change, so under load the count grows with the commit rate.
   */
  get conflictKeys(): number {
    return this.#documentMarks.size + this.#indexMarks.size;
  }

  submit(transaction: Transaction): Promise<CommitResult> {
    return new Promise<CommitResult>((resolve, reject) => {
      this.#queue.push({ transaction, resolve, reject, attempts: 0 });
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

  /**
   * True when the pump has something to do: transactions wait, the
   * committer is behind the store, or it holds the lock of a turn, which the
   * pump releases once the turn has ended, whether or not anything waits.
   */
  get #pumpNeeded(): boolean {
    return (
      this.#queue.length > 0 ||
      this.#retry.length > 0 ||
      this.#behind ||
      this.#exclusive.length > 0 ||
      this.#turns?.held === true
    );
  }

  /**
   * Run `run` once no batch is in flight, with nothing appended meanwhile:
   * transactions wait, and on a shared store this committer holds the
   * ledger's append lock, so no other process appends either.
   */
  exclusive<T>(run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#exclusive.push({ run, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  #runExclusive(): void {
    const task = this.#exclusive.shift()!;
    const turns = this.#turns;
    this.#resyncing = (async () => {
      let began = false;
      try {
        if (turns !== undefined && !turns.held) {
          const changes = await turns.begin(this.#durable.seq, MAX_CATCH_UP_BLOCKS);
          began = true;
          await this.#catchUpNow(changes);
        } else if (turns !== undefined) {
          await this.#catchUpNow();
        }
        task.resolve(await task.run());
      } catch (error) {
        task.reject(error);
      } finally {
        if (began) turns!.end();
        this.#resyncing = undefined;
        if (this.#pumpNeeded) this.#schedule();
      }
    })();
  }

  #pump(): void {
    if (this.#resyncing !== undefined) return;
    if (this.#exclusive.length > 0) {
      if (this.#inFlight === 0) this.#runExclusive();
      return;
    }
    if (this.#behind) {
      // Catch up once every batch in flight has settled, since they were
      // planned on the old tip and fail too.
      if (this.#inFlight === 0) this.#catchUp();
      return;
    }
    if (this.#turns !== undefined && !this.#turns.held && this.#inFlight === 0) {
      const readOnly = this.#queue.filter((pending) => pending.transaction.empty);
      if (readOnly.length > 0) {
        this.#queue.splice(
          0,
          this.#queue.length,
          ...this.#queue.filter((p) => !p.transaction.empty),
        );
        this.#checkReadOnly(readOnly);
        return;
      }
    }
    if (this.#turns !== undefined && !this.#mayAppend(this.#turns)) return;
    if (this.#retry.length > 0) this.#queue.unshift(...this.#retry.splice(0));
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
        if (this.#pumpNeeded) this.#schedule();
      });
    }
  }

  /**
   * Decide whether batches may be sent to a shared store now: only during
   * this committer's turn. Releases the lock of an ended turn once nothing
   * is in flight, and starts a new turn when work waits.
   */
  #mayAppend(turns: AppendTurns): boolean {
    if (turns.active) return true;
    if (turns.held) {
      if (this.#inFlight === 0) turns.end();
      return false;
    }
    if (this.#queue.length > 0 || this.#retry.length > 0) this.#beginTurn(turns);
    return false;
  }

  /**
   * Commit transactions that write nothing without taking the append lock:
   * catch up with the store's tip, then validate them against it. If
   * nothing they read changed up to that tip, they serialize there.
   */
  #checkReadOnly(pendings: Pending[]): void {
    this.#resyncing = (async () => {
      try {
        await this.#catchUpNow();
        for (const pending of pendings) {
          const { transaction } = pending;
          if (transaction.expired) pending.reject(new TransactionExpiredError(transaction.id));
          else if (!this.#valid(transaction)) pending.reject(new OccConflictError(transaction.id));
          else pending.resolve(emptyResult(transaction));
        }
      } catch (error) {
        const failure = storageFailure(error);
        for (const pending of pendings) pending.reject(failure);
      } finally {
        this.#resyncing = undefined;
        if (this.#pumpNeeded) this.#schedule();
      }
    })();
  }

  /** Take the append lock, then catch up with what other processes appended meanwhile. */
  #beginTurn(turns: AppendTurns): void {
    this.#resyncing = (async () => {
      try {
        // The store reads what the last holder appended along with the lock.
        const changes = await turns.begin(this.#durable.seq, MAX_CATCH_UP_BLOCKS);
        await this.#catchUpNow(changes);
      } catch (error) {
        turns.end();
        const failure = storageFailure(error);
        for (const pending of [...this.#retry.splice(0), ...this.#queue.splice(0)]) {
          pending.reject(failure);
        }
      } finally {
        this.#resyncing = undefined;
        if (this.#pumpNeeded) this.#schedule();
      }
    })();
  }

  #prepare(batch: Pending[]): PreparedBatch | undefined {
    const { tree } = this.#options;
    const cipher = this.#options.cipher();
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
        pending.resolve(emptyResult(transaction));
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
          redaction: transaction.redaction,
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
      const removed = removedEntries(transaction);
      if (removed.length > 0) block.removedEntries = removed;
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
      if (this.#turns !== undefined && error instanceof SequenceConflictError) {
        this.#lostRace(batch);
        return;
      }
      // The connection holding the lock may be broken; the next turn takes a new one.
      this.#turns?.end();
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
      const failure = storageFailure(error);
      for (const { pending } of batch.accepted) pending.reject(failure);
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
   * Handle a batch that another process beat to the store: nothing of it
   * was written. Its transactions wait to be validated and prepared again
   * once the committer has caught up with the store, unless they have lost
   * too often.
   */
  #lostRace(batch: PreparedBatch): void {
    if (batch.generation === this.#generation) this.#abandonPlanned();
    this.#behind = true;
    for (const { pending } of batch.accepted) {
      pending.attempts += 1;
      if (pending.attempts >= MAX_APPEND_ATTEMPTS) {
        pending.reject(new OccConflictError(pending.transaction.id));
      } else {
        this.#retry.push(pending);
      }
    }
  }

  /**
   * Bring the committer up to the store's tip: mark what the blocks it has
   * not seen changed, apply their catalog changes and reload the block tree.
   * Transactions that read anything those blocks changed then conflict.
   */
  #catchUp(): void {
    this.#resyncing = (async () => {
      try {
        await this.#catchUpNow();
      } catch (error) {
        // The store is unreachable: the waiting transactions fail like any
        // failed write, and the next batch finds out again whether it is behind.
        this.#behind = false;
        const failure = storageFailure(error);
        for (const pending of this.#retry.splice(0)) pending.reject(failure);
      } finally {
        this.#resyncing = undefined;
        if (this.#pumpNeeded) this.#schedule();
      }
    })();
  }

  /**
   * Catch up with `changes` since the durable tip. Without them, check the
   * store's last block first, which is all that most read-only commits need.
   */
  async #catchUpNow(given?: JournalChanges): Promise<void> {
    const { store, ledgerId } = this.#options;
    await this.#options.refreshKeys?.();
    let changes = given;
    if (changes === undefined) {
      const last = await store.lastBlock(ledgerId);
      if (last !== undefined && last.seq > this.#durable.seq) {
        changes = await store.changesSince(ledgerId, this.#durable.seq, MAX_CATCH_UP_BLOCKS);
      }
    }
    const last = changes?.last;
    if (changes !== undefined && last !== undefined && last.seq > this.#durable.seq) {
      if (changes.complete) await this.#applyChanges(changes, last);
      else await this.#reloadTip();
    }
    this.#behind = false;
  }

  async #applyChanges(changes: JournalChanges, last: StoredBlock): Promise<void> {
    const indexKeys: string[] = [];
    for (const revision of changes.revisions) {
      this.#documentMarks.set(revision.docId, revision.blockSeq);
      const table = this.#tableMarks.get(revision.tableId) ?? -1;
      this.#tableMarks.set(revision.tableId, Math.max(table, revision.blockSeq));
    }
    // A redaction changes no current document, but a transaction that
    // checked the revision before it may not redact it again.
    for (const { docId, blockSeq } of changes.redactions) {
      this.#documentMarks.set(docId, Math.max(this.#documentMarks.get(docId) ?? -1, blockSeq));
    }
    for (const { entry, blockSeq } of changes.indexEntries) {
      const key = indexMarkKey(entry);
      this.#indexMarks.set(key, Math.max(this.#indexMarks.get(key) ?? -1, blockSeq));
      indexKeys.push(key);
    }
    if (changes.catalog.length > 0) {
      const catalog = this.#options.catalog().withStored(changes.catalog, this.#options.cipher());
      for (const object of changes.catalog) {
        this.#catalogMark = Math.max(this.#catalogMark, object.blockSeq);
      }
      this.#options.applyCatalog(catalog);
    }

    await this.#advanceTree(changes.blockHashes, last);
    const tip = { seq: last.seq, hash: last.blockHash, time: last.time };
    this.#durable = tip;
    this.#planned = { tip, plan: undefined, catalog: undefined };
    this.#options.onDurable(indexKeys);
  }

  /**
   * Add other processes' block hashes to the block tree, which then covers
   * the journal up to `last`. The store's tree nodes for them are complete,
   * so a tree that does not line up with the hashes loads its edge from there.
   */
  async #advanceTree(hashes: Uint8Array[], last: StoredBlock): Promise<void> {
    const { tree } = this.#options;
    const lined =
      tree.size === this.#durable.seq + 1 &&
      hashes.length === last.seq - this.#durable.seq &&
      Buffer.from(hashes[hashes.length - 1]!).equals(last.blockHash);
    if (!lined) {
      await tree.load(last.seq + 1);
      return;
    }
    let plan: AppendPlan | undefined;
    for (const hash of hashes) plan = tree.planAppend(hash, plan);
    tree.commitAppend(plan!);
  }

  /**
   * Bring the committer up to date with blocks that other processes
   * appended, when it is idle. Used before reads that must include them,
   * such as a digest; a no-op on a store with a single writer.
   */
  async refresh(): Promise<void> {
    if (this.#turns === undefined) return;
    if (this.#resyncing !== undefined) {
      await this.#resyncing;
      return;
    }
    if (this.#inFlight > 0) return;
    this.#behind = true;
    this.#catchUp();
    await this.#resyncing;
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
        await this.#reloadTip();
      } finally {
        this.#resyncing = undefined;
        if (this.#pumpNeeded) this.#schedule();
      }
    })();
    // A failed reload is retried by the next failed write; callers see that write's error.
    this.#resyncing.catch(() => undefined);
  }

  async #reloadTip(): Promise<void> {
    const last = await this.#options.store.lastBlock(this.#options.ledgerId);
    const tip =
      last === undefined ? this.#durable : { seq: last.seq, hash: last.blockHash, time: last.time };
    await this.#options.tree.load(tip.seq + 1);
    await this.#options.reload();
    this.#durable = tip;
    this.#planned = { tip, plan: undefined, catalog: undefined };
    this.#catalogMark = tip.seq;
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
    const epoch = transaction.keyEpochObserved;
    // Index keys are MACs under the key for new writes: reads made under
    // another key are not comparable with the marks, so they conflict.
    if (epoch !== undefined && epoch !== this.#options.keyEpoch()) return false;
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
    // A redaction read the document to check its revision, so a second
    // redaction of it that read the document before this one conflicts.
    // Other processes sharing the store set the same mark when they catch
    // up with this block (`JournalChanges.redactions`).
    if (transaction.redaction !== undefined) {
      this.#documentMarks.set(transaction.redaction.info.documentId, seq);
    }
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

function emptyResult(transaction: Transaction): CommitResult {
  return {
    transactionId: transaction.id,
    commitDigest: transaction.commitDigest,
    blockAddress: undefined,
  };
}

/** Index entries that the transaction's writes remove from the documents they replace or delete. */
function removedEntries(transaction: Transaction): IndexEntry[] {
  const removed: IndexEntry[] = [];
  for (const write of transaction.writes.values()) removed.push(...write.replacedEntries);
  return removed;
}

/**
 * Return the error a commit fails with when the store failed. A closed
 * store's error stays as it is, since a retry cannot help; anything else
 * becomes a storage failure that a retry may get past.
 */
function storageFailure(error: unknown): Error {
  if (error instanceof StorageUnavailableError || error instanceof StoreClosedError) return error;
  // A retry cannot help here either, so the error must not read as a storage failure.
  if (error instanceof LedgerNotFoundError) {
    return new LedgerError(
      'ResourceNotFoundException',
      'The ledger was deleted while the transaction ran, so nothing was committed',
    );
  }
  return new StorageUnavailableError(error);
}
