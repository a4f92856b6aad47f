// Builds ledger journals whose content the tests know in advance: which block contains which
// revisions, and the data each revision carries.
import { dom, load } from 'ion-js';
import type { Ledger, Transaction } from '../../src/engine/index.js';

export const TABLE = 'Item';

/** A revision that the builder wrote. `data` is undefined for a deletion revision. */
export interface WrittenRevision {
  docId: string;
  version: number;
  data: dom.Value | undefined;
}

/** Deterministic PRNG (mulberry32), so a journal and its sampled cases reproduce from a seed. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Returns a number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns an integer in [0, bound). */
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  /** Returns an integer in [min, max], both inclusive. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('cannot pick from an empty list');
    return items[this.int(items.length)]!;
  }
}

/** Labels for document data, with non-ASCII text and the Ion Hash marker bytes. */
const LABELS = ['plain', 'Grüße', '日本語', 'emoji 😀', 'marker \u000b\u000c\u000e bytes', ''];

/**
 * The journal a builder run produced: `blocks[seq]` lists the revisions that block `seq`
 * contains, and `documents` maps each document id to its revisions in version order.
 */
export interface BuiltJournal {
  blocks: WrittenRevision[][];
  documents: Map<string, WrittenRevision[]>;
}

/**
 * Writes one transaction and tracks its revisions the way the engine stores them: one
 * revision per document, carrying the document's last state in the transaction.
 */
class TransactionRecorder {
  readonly writes = new Map<string, WrittenRevision>();

  constructor(
    readonly transaction: Transaction,
    readonly random: SeededRandom,
    /** Version of a document's last committed revision. */
    readonly committedVersion: (docId: string) => number,
    readonly counter: { next: number },
  ) {}

  #document(): dom.Value {
    const number = this.counter.next++;
    const label = this.random.pick(LABELS);
    return load(`{n: ${number}, label: ${JSON.stringify(label)}, tags: ["a", ${number % 7}]}`)!;
  }

  /** The version a write of `docId` gets: a second write in one transaction keeps the first's. */
  #nextVersion(docId: string): number {
    return this.writes.get(docId)?.version ?? this.committedVersion(docId) + 1;
  }

  async insert(): Promise<string> {
    const data = this.#document();
    const docId = await this.transaction.insert(TABLE, data);
    this.writes.set(docId, { docId, version: 0, data });
    return docId;
  }

  async update(docId: string): Promise<void> {
    const expected = this.#nextVersion(docId);
    const data = this.#document();
    const version = await this.transaction.update(TABLE, docId, data);
    if (version !== expected) {
      throw new Error(`update of ${docId} returned version ${version}, expected ${expected}`);
    }
    this.writes.set(docId, { docId, version, data });
  }

  async delete(docId: string): Promise<void> {
    const expected = this.#nextVersion(docId);
    const version = await this.transaction.delete(TABLE, docId);
    if (version !== expected) {
      throw new Error(`delete of ${docId} returned version ${version}, expected ${expected}`);
    }
    this.writes.set(docId, { docId, version, data: undefined });
  }
}

/**
 * Appends blocks to a ledger that contains only its genesis block, until the ledger has
 * `blockCount` blocks, one committed transaction each:
 *
 * - block 1 creates the table and inserts 3 documents;
 * - block 2 updates one of them, deletes another and inserts a new one;
 * - later blocks mostly insert one document. The others insert several, update one, delete
 *   one, update one and delete another, insert and update one document in the same
 *   transaction, or only record a statement.
 *
 * Every transaction records a statement. Throws when a commit lands in an unexpected block.
 */
export async function buildJournal(
  ledger: Ledger,
  blockCount: number,
  random: SeededRandom,
): Promise<BuiltJournal> {
  if (ledger.tipSeq !== 0) {
    throw new Error(`expected a ledger with only its genesis block, got tip ${ledger.tipSeq}`);
  }
  const journal: BuiltJournal = { blocks: [[]], documents: new Map() };
  const live: string[] = [];
  const counter = { next: 0 };

  const committedVersion = (docId: string): number => journal.documents.get(docId)!.at(-1)!.version;

  for (let seq = 1; seq < blockCount; seq++) {
    const recorder = new TransactionRecorder(ledger.begin(), random, committedVersion, counter);
    const transaction = recorder.transaction;

    if (seq === 1) {
      transaction.recordStatement(`CREATE TABLE ${TABLE}`);
      transaction.createTable(TABLE);
      transaction.recordStatement(`INSERT INTO ${TABLE} << ?, ?, ? >>`);
      for (let i = 0; i < 3; i++) await recorder.insert();
    } else if (seq === 2) {
      transaction.recordStatement(`UPDATE ${TABLE} SET label = 'changed' WHERE n = 0`);
      await recorder.update(live[0]!);
      transaction.recordStatement(`DELETE FROM ${TABLE} WHERE n = 1`);
      await recorder.delete(live[1]!);
      transaction.recordStatement(`INSERT INTO ${TABLE} ?`);
      await recorder.insert();
    } else {
      await writeRandomTransaction(recorder, live);
    }

    const result = await transaction.commit();
    const committedSeq = result.blockAddress?.sequenceNo;
    if (committedSeq !== seq) {
      throw new Error(`transaction committed to block ${committedSeq}, expected block ${seq}`);
    }

    const revisions = [...recorder.writes.values()];
    journal.blocks.push(revisions);
    for (const revision of revisions) {
      const history = journal.documents.get(revision.docId) ?? [];
      history.push(revision);
      journal.documents.set(revision.docId, history);
      const position = live.indexOf(revision.docId);
      if (revision.data === undefined && position >= 0) live.splice(position, 1);
      if (revision.data !== undefined && position < 0) live.push(revision.docId);
    }
  }
  return journal;
}

async function writeRandomTransaction(
  recorder: TransactionRecorder,
  live: string[],
): Promise<void> {
  const { transaction, random } = recorder;
  const roll = random.next();
  const parameter = load(`{n: ${random.int(1000)}, note: "参数 \u000b"}`)!;

  if (roll < 0.6 || live.length < 3) {
    transaction.recordStatement(`INSERT INTO ${TABLE} ?`, [parameter]);
    await recorder.insert();
  } else if (roll < 0.7) {
    transaction.recordStatement(`INSERT INTO ${TABLE} << ?, ... >>`);
    const count = random.between(2, 5);
    for (let i = 0; i < count; i++) await recorder.insert();
  } else if (roll < 0.82) {
    transaction.recordStatement(`UPDATE ${TABLE} SET n = ? WHERE id = ?`, [parameter]);
    const docId = random.pick(live);
    await recorder.update(docId);
  } else if (roll < 0.87) {
    // A document inserted and updated in one transaction is one revision, version 0.
    transaction.recordStatement(`INSERT INTO ${TABLE} ?`);
    const docId = await recorder.insert();
    transaction.recordStatement(`UPDATE ${TABLE} SET n = n + 1 WHERE id = ?`);
    await recorder.update(docId);
  } else if (roll < 0.92) {
    transaction.recordStatement(`DELETE FROM ${TABLE} WHERE id = ?`);
    const docId = random.pick(live);
    await recorder.delete(docId);
  } else if (roll < 0.96) {
    const updated = random.pick(live);
    const deleted = random.pick(live.filter((docId) => docId !== updated));
    transaction.recordStatement(`UPDATE ${TABLE} SET label = 'x' WHERE id = ?`);
    await recorder.update(updated);
    transaction.recordStatement(`DELETE FROM ${TABLE} WHERE id = ?`);
    await recorder.delete(deleted);
  } else {
    // A statement that changes nothing still writes a block, without revisions.
    transaction.recordStatement(`SELECT * FROM ${TABLE} WHERE n = ?`, [parameter]);
  }
}
