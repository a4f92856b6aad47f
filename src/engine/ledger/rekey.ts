import {
  StateConflictError,
  StoreUnavailableError,
  type IndexEntryReplacement,
  type Store,
  type StoredRevision,
} from '../../storage/store.js';
import { JournalIntegrityError, StorageUnavailableError } from '../errors.js';
import { blockContext, revisionContext } from '../journal/block-builder.js';
import {
  LedgerKeyring,
  PayloadIntegrityError,
  sealedGeneration,
} from '../keyring/ledger-cipher.js';
import { catalogContext } from './catalog.js';
import { indexEntryOf, indexKeyBytes } from './index-key.js';
import type { Ledger } from './ledger.js';

/** How often a running rekey stores its cursor, in milliseconds. */
const PROGRESS_INTERVAL_MS = 250;

/** The state namespace of rekey progress records, keyed by ledger id. */
export const REKEY_NAMESPACE = 'engine.rekey';

export interface RekeyOptions {
  /** At most this many blocks, with their revisions, are sealed again per storage transaction. */
  batchBlocks: number;
  /**
   * About this many revisions per storage transaction: the number of blocks
   * per batch follows the revisions per block seen so far. A batch runs on
   * the event loop without a break, so it bounds how long it holds up reads.
   */
  batchRevisions: number;
  /** Index entries MACed again per storage transaction. */
  batchEntries: number;
  /** Pause between two batches, in milliseconds, to leave the store to other work. */
  pauseMs: number;
  /** Wait before retrying a batch after the store was unavailable, in milliseconds. */
  retryMs: number;
}

// A short pause after each batch lets reads and commits that queued up
// behind it run first. Measured on SQLite with one reader, the pause kept the
// median read latency at its level before the rekey, for about a tenth less
// rekey throughput. Without it, the median read waited 7 to 30 ms.
export const DEFAULT_REKEY_OPTIONS: RekeyOptions = {
  batchBlocks: 64,
  batchRevisions: 64,
  batchEntries: 256,
  pauseMs: 2,
  retryMs: 1000,
};

/** The progress a rekey stores between batches, so that it resumes where it was; no user data. */
export interface RekeyProgress {
  fromGeneration: number;
  toGeneration: number;
  startedAt: number;
  /** Every block below this sequence number is sealed under the new key. */
  blockCursor: number;
  documentsResealed: number;
  indexEntriesReplaced: number;
}

export type RekeyState = 'RUNNING' | 'DONE' | 'FAILED' | 'STOPPED';
export type RekeyPhase = 'catalog' | 'index' | 'journal' | 'finish';

/** A rekey's progress as status reads report it. */
export interface RekeyStatus {
  state: RekeyState;
  phase: RekeyPhase;
  fromGeneration: number;
  toGeneration: number;
  /** Epoch ms. */
  startedAt: number;
  finishedAt?: number;
  /** Blocks whose body and revisions are sealed under the new key. */
  blocksDone: number;
  /** Blocks in the journal when last looked at. */
  blocksTotal: number;
  /** Document revisions sealed again under the new key. */
  documentsResealed: number;
  /** Index entries MACed again under the new key. */
  indexEntriesReplaced: number;
  /** The reason a rekey failed. The rekey resumes when the ledger is opened again. */
  error?: string;
}

class Stopped extends Error {
  constructor() {
    super('the rekey was stopped; it resumes when the ledger is opened again');
    this.name = 'RekeyStopped';
  }
}

/**
 * Seal a ledger's stored data again under its new data key, in bounded
 * batches while the ledger serves, then delete the retiring key.
 *
 * New writes already use the new key when this starts, because the
 * ledger's keyring contains both keys. So the work is bounded by what
 * existed before: the catalog, the index entries still MACed under the
 * retiring key, and the journal's blocks and revisions up to the tip. The last step runs with the journal
 * to itself: it seals what was appended meanwhile under the retiring key
 * (by batches in flight at the switch, or another process that had not
 * seen it yet), then deletes the retiring key from the store and from memory.
 *
 * Hashes are over plaintext and blocks and revisions keep their content,
 * so the journal verifies as before.
 */
export class LedgerRekey {
  readonly status: RekeyStatus;
  readonly #ledger: Ledger;
  readonly #store: Store;
  readonly #options: RekeyOptions;
  readonly #progress: RekeyProgress;
  #stopped = false;
  /** Blocks in the next journal batch; see `RekeyOptions.batchRevisions`. */
  #batchBlocks = 1;
  #savedAt = 0;
  #wake: (() => void) | undefined;
  /** Settles when the run ends: finished, failed or stopped. */
  readonly done: Promise<void>;

  constructor(ledger: Ledger, store: Store, progress: RekeyProgress, options: RekeyOptions) {
    this.#ledger = ledger;
    this.#store = store;
    this.#options = options;
    this.#progress = { ...progress };
    this.status = {
      state: 'RUNNING',
      phase: 'catalog',
      fromGeneration: progress.fromGeneration,
      toGeneration: progress.toGeneration,
      startedAt: progress.startedAt,
      blocksDone: progress.blockCursor,
      blocksTotal: Math.max(progress.blockCursor, ledger.tipSeq + 1),
      documentsResealed: progress.documentsResealed,
      indexEntriesReplaced: progress.indexEntriesReplaced,
    };
    this.done = this.#run();
  }

  /** Stop at the next batch boundary; the stored progress stays for a later run. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    return this.done;
  }

  async #run(): Promise<void> {
    // Start on a later turn of the event loop, so the caller sees RUNNING first.
    await new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      try {
        await this.#steps();
        this.status.state = 'DONE';
        this.status.finishedAt = Date.now();
        return;
      } catch (error) {
        if (this.#stopped || error instanceof Stopped) {
          // Keep the cursor of the batches done, so the next run starts there.
          if (this.status.phase !== 'finish') await this.#saveProgress().catch(() => undefined);
          this.status.state = 'STOPPED';
          return;
        }
        if (error instanceof StoreUnavailableError || error instanceof StorageUnavailableError) {
          // The store is back later; go on from the stored progress.
          this.status.error = error.message;
          await this.#sleep(this.#options.retryMs);
          continue;
        }
        this.status.state = 'FAILED';
        this.status.error = error instanceof Error ? error.message : String(error);
        return;
      }
    }
  }

  async #steps(): Promise<void> {
    this.#checkKeys();
    this.status.phase = 'catalog';
    await this.#catalog();
    this.status.phase = 'index';
    await this.#indexEntries();
    this.status.phase = 'journal';
    await this.#journal();
    this.#check();
    this.status.phase = 'finish';
    const ledger = this.#ledger;
    await ledger.exclusive(async () => {
      this.#checkKeys();
      await this.#journal(false);
      await this.#catalog();
      await this.#indexEntries(false);
      await this.#store.finishRekey(ledger.name, this.#progress.fromGeneration);
      ledger.useKeys(new LedgerKeyring(ledger.cipher.current));
    });
    this.status.error = undefined;
    await this.#deleteProgress();
  }

  /** The ledger must hold the new key for writes and the retiring key for reads. */
  #checkKeys(): void {
    const keyring = this.#ledger.cipher;
    const { fromGeneration, toGeneration } = this.#progress;
    if (keyring.generation !== toGeneration || keyring.retiring?.generation !== fromGeneration) {
      throw new Error(
        `ledger ${this.#ledger.name} has data key generations ${keyring.generations.join(' and ')}, ` +
          `not ${toGeneration} and ${fromGeneration}; open it again to resume the rekey`,
      );
    }
  }

  #check(): void {
    if (this.#stopped) throw new Stopped();
  }

  async #catalog(): Promise<void> {
    const keyring = this.#ledger.cipher;
    const rows = await this.#store.loadCatalog(this.#ledger.id);
    const stale = rows.filter((row) => sealedGeneration(row.payload) !== keyring.generation);
    if (stale.length === 0) return;
    await this.#store.replaceSealed(this.#ledger.id, {
      catalog: stale.map((row) => {
        const context = catalogContext(row.objectId);
        const plaintext = this.#open(row.payload, context, row.blockSeq);
        return {
          objectId: row.objectId,
          blockSeq: row.blockSeq,
          payload: keyring.current.seal(plaintext, context),
        };
      }),
    });
  }

  /**
   * MAC every index entry of the retiring generation again. Entries are
   * listed in document order, and a page's documents are read at the
   * entry's version. Each entry is replaced only while the document still
   * has it, so a concurrent write of the document wins.
   */
  async #indexEntries(pausing = true): Promise<void> {
    const ledger = this.#ledger;
    const from = this.#progress.fromGeneration;
    let after = '';
    for (;;) {
      if (pausing) this.#check();
      const page = await this.#store.listIndexEntries(
        ledger.id,
        from,
        after,
        this.#options.batchEntries,
      );
      if (page.length === 0) return;
      after = page[page.length - 1]!.docId;
      const keyring = ledger.cipher;
      const replacements: IndexEntryReplacement[] = [];
      const documents = new Map<string, StoredRevision | undefined>();
      for (const { docId, version, entry } of page) {
        const key = `${docId}:${version}`;
        if (!documents.has(key)) {
          documents.set(key, await this.#store.getRevision(ledger.id, docId, version));
        }
        const stored = documents.get(key);
        // The document has a newer revision by now, whose entries replaced this one.
        if (stored === undefined) continue;
        const definition = ledger.catalog().get(entry.indexId);
        if (definition?.kind !== 'index') {
          throw new Error(
            `index ${entry.indexId} of ledger ${ledger.name} has entries but no definition in the catalog`,
          );
        }
        const value = ledger.toRevision(stored).data?.get(definition.field);
        const retiring = keyring.retiring!;
        if (
          value === undefined ||
          value === null ||
          !Buffer.from(retiring.mac(entry.indexId, indexKeyBytes(definition, value))).equals(
            entry.keyMac,
          )
        ) {
          throw new JournalIntegrityError(
            ledger.name,
            stored.blockSeq,
            new Error(
              `the index entry of document ${docId} version ${version} does not match its value`,
            ),
          );
        }
        replacements.push({
          docId,
          version,
          from: entry,
          to: indexEntryOf(definition, value, keyring.current),
        });
      }
      const replaced = await this.#store.replaceIndexEntries(ledger.id, replacements);
      this.#progress.indexEntriesReplaced += replaced;
      this.status.indexEntriesReplaced = this.#progress.indexEntriesReplaced;
      if (pausing) await this.#pause();
    }
  }

  /**
   * Seal blocks and revisions again from the cursor up to the journal's tip,
   * which moves while the ledger serves. New blocks are already sealed under
   * the new key, so they are only read.
   */
  async #journal(pausing = true): Promise<void> {
    const ledger = this.#ledger;
    for (;;) {
      if (pausing) this.#check();
      const last = await this.#store.lastBlock(ledger.id);
      const tip = last?.seq ?? -1;
      this.status.blocksTotal = tip + 1;
      const from = this.#progress.blockCursor;
      if (from > tip) return;
      const to = Math.min(from + this.#batchBlocks, tip + 1);
      const keyring = ledger.cipher;
      const generation = keyring.generation;
      const blocks = await this.#store.getBlocks(ledger.id, from, to);
      const revisions = await this.#store.getRevisionsInBlocks(ledger.id, from, to);
      const replacements = {
        blocks: blocks
          .filter((block) => sealedGeneration(block.body) !== generation)
          .map((block) => {
            const context = blockContext(block);
            const plaintext = this.#open(block.body, context, block.seq);
            return { seq: block.seq, body: keyring.current.seal(plaintext, context) };
          }),
        revisions: revisions
          .filter((revision) => sealedGeneration(revision.payload) !== generation)
          .map((revision) => {
            const context = revisionContext(revision);
            const plaintext = this.#open(revision.payload, context, revision.blockSeq);
            return {
              docId: revision.docId,
              version: revision.version,
              from: revision.payload,
              payload: keyring.current.seal(plaintext, context),
            };
          }),
      };
      const perBlock = revisions.length / Math.max(1, to - from);
      this.#batchBlocks = Math.max(
        1,
        Math.min(this.#options.batchBlocks, Math.floor(this.#options.batchRevisions / perBlock)),
      );
      const wrote = replacements.blocks.length > 0 || replacements.revisions.length > 0;
      if (wrote) await this.#store.replaceSealed(ledger.id, replacements);
      this.#progress.blockCursor = to;
      this.#progress.documentsResealed += replacements.revisions.length;
      this.status.blocksDone = to;
      this.status.documentsResealed = this.#progress.documentsResealed;
      // Blocks written since the rekey began are sealed under the new key
      // already: reading them goes on without a pause, so the walk catches
      // up with the tip under a steady write load.
      if (wrote) {
        // The cursor is stored now and then, not per batch: each write is a
        // sync, and a resumed rekey only reads again what it had sealed since.
        if (Date.now() - this.#savedAt >= PROGRESS_INTERVAL_MS) await this.#saveProgress();
        if (pausing) await this.#pause();
      }
    }
  }

  #open(sealed: Uint8Array, context: string, blockSeq: number): Uint8Array {
    try {
      return this.#ledger.cipher.open(sealed, context);
    } catch (error) {
      if (!(error instanceof PayloadIntegrityError)) throw error;
      throw new JournalIntegrityError(this.#ledger.name, blockSeq, error);
    }
  }

  async #saveProgress(): Promise<void> {
    this.#savedAt = Date.now();
    await writeProgress(this.#store, this.#ledger.id, this.#progress);
  }

  async #deleteProgress(): Promise<void> {
    await deleteProgress(this.#store, this.#ledger.id);
  }

  async #pause(): Promise<void> {
    if (this.#options.pauseMs > 0) await this.#sleep(this.#options.pauseMs);
    else await new Promise((resolve) => setImmediate(resolve));
  }

  async #sleep(ms: number): Promise<void> {
    if (this.#stopped) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }
}

/** Read a ledger's stored rekey progress. */
export async function readProgress(
  store: Store,
  ledgerId: string,
): Promise<RekeyProgress | undefined> {
  const record = await store.getState(REKEY_NAMESPACE, ledgerId);
  if (record === undefined) return undefined;
  return JSON.parse(Buffer.from(record.value).toString('utf8')) as RekeyProgress;
}

/** Write a ledger's rekey progress, whatever version is stored. */
export async function writeProgress(
  store: Store,
  ledgerId: string,
  progress: RekeyProgress,
): Promise<void> {
  const value = Buffer.from(JSON.stringify(progress), 'utf8');
  for (;;) {
    const current = await store.getState(REKEY_NAMESPACE, ledgerId);
    try {
      await store.putState(REKEY_NAMESPACE, ledgerId, value, current?.version ?? 0);
      return;
    } catch (error) {
      if (!(error instanceof StateConflictError)) throw error;
    }
  }
}

/** Delete a ledger's rekey progress, if any. */
export async function deleteProgress(store: Store, ledgerId: string): Promise<void> {
  for (;;) {
    const current = await store.getState(REKEY_NAMESPACE, ledgerId);
    if (current === undefined) return;
    try {
      await store.deleteState(REKEY_NAMESPACE, ledgerId, current.version);
      return;
    } catch (error) {
      if (!(error instanceof StateConflictError)) throw error;
    }
  }
}
