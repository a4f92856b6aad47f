import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';
import {
  SequenceConflictError,
  type BlockWrite,
  type IndexEntry,
  type StoredCatalogObject,
} from '../store.js';

/** Key space of the advisory lock that gives one store turns at a ledger's appends (ASCII "VLAP"). */
export const APPEND_LOCK_CLASS = 0x564c4150;

/**
 * Write blocks and everything they change as one statement, which commits
 * by itself: one round trip per batch.
 *
 * The statement first reads the stored tip and writes nothing unless the
 * first block continues it. Its snapshot may miss an append that another
 * writer commits while it runs, but that append took the same sequence
 * number, and the primary key on (ledger, seq) then fails this statement.
 * Either way nothing of the batch is stored and `SequenceConflictError` is
 * raised.
 */
export async function appendBlocks(
  client: PoolClient,
  ledger: number,
  blocks: BlockWrite[],
): Promise<void> {
  checkConsecutive(blocks);
  const first = blocks[0]!;
  const statement = new Statement(ledger);
  const firstSeq = statement.parameter(first.seq);
  const previousHash = statement.parameter(first.previousHash);
  statement.part(
    'tip',
    `SELECT t.seq, t.block_hash,
       (COALESCE(t.seq, -1) = ${firstSeq}::bigint - 1
        AND (t.seq IS NULL OR t.block_hash = ${previousHash}::bytea)) AS continues
     FROM (SELECT 1) AS one
     LEFT JOIN (SELECT seq, block_hash FROM blocks WHERE ledger = $1 ORDER BY seq DESC LIMIT 1) AS t ON true`,
  );
  writeRows(statement, blocks);

  let result: { seq: number | null; continues: boolean };
  try {
    const text = statement.sql('SELECT seq, continues FROM tip');
    // A named statement is parsed once per connection; the text differs
    // only by which kinds of rows a batch has, so there are few names.
    const rows = await client.query({ name: statementName(text), text, values: statement.values });
    result = rows.rows[0] as { seq: number | null; continues: boolean };
  } catch (error) {
    // 23505: unique_violation, from another writer's append of the same sequence number.
    if ((error as { code?: string }).code !== '23505') throw error;
    const tip = await client.query(
      'SELECT seq, block_hash FROM blocks WHERE ledger = $1 ORDER BY seq DESC LIMIT 1',
      [ledger],
    );
    const last = tip.rows[0] as { seq: number; block_hash: Buffer } | undefined;
    if (last !== undefined && last.seq >= first.seq) {
      throw new SequenceConflictError(last.seq + 1, first.seq);
    }
    throw error;
  }
  if (!result.continues) {
    throw new SequenceConflictError(result.seq === null ? 0 : result.seq + 1, first.seq);
  }
}

const names = new Map<string, string>();

/** Name a prepared statement after its text, so each connection prepares each text once. */
export function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `vellum_${createHash('sha256').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return name;
}

function checkConsecutive(blocks: BlockWrite[]): void {
  for (let i = 1; i < blocks.length; i++) {
    const expected = blocks[0]!.seq + i;
    if (blocks[i]!.seq !== expected) throw new SequenceConflictError(expected, blocks[i]!.seq);
  }
}

/**
 * A statement of data-modifying CTEs under construction. `$1` is the ledger
 * number. `$2` is one buffer with every byte string of the batch, which `pg`
 * sends in binary, and the server cuts the `bytea` values out of it. With
 * `bytea[]` parameters, which travel as hex text, the engine spent about 130
 * instead of 100 µs of CPU per insert (64 writers, the insert loop of
 * `bench/postgres-common.ts`, measured with `process.cpuUsage`).
 */
class Statement {
  readonly #values: unknown[];
  readonly #parts: string[] = [];
  readonly #chunks: Uint8Array[] = [];
  #length = 0;

  constructor(ledger: number) {
    this.#values = [ledger, undefined];
  }

  /** Add a parameter and return its placeholder. */
  parameter(value: unknown): string {
    this.#values.push(value);
    return `$${this.#values.length}`;
  }

  /** Add byte strings and return an SQL expression for them as a `bytea[]`, in order. */
  bytes(values: Uint8Array[]): string {
    const offsets: number[] = [];
    const lengths: number[] = [];
    for (const value of values) {
      offsets.push(this.#length + 1);
      lengths.push(value.length);
      this.#chunks.push(value);
      this.#length += value.length;
    }
    return `ARRAY(SELECT substring($2::bytea FROM x.o FOR x.l)
      FROM unnest(${this.parameter(offsets)}::integer[], ${this.parameter(lengths)}::integer[])
        WITH ORDINALITY AS x (o, l, n) ORDER BY x.n)`;
  }

  part(name: string, sql: string): void {
    this.#parts.push(`${name} AS (${sql})`);
  }

  sql(final: string): string {
    return `WITH ${this.#parts.join(',\n')}\n${final}`;
  }

  get values(): unknown[] {
    this.#values[1] = Buffer.concat(this.#chunks, this.#length);
    return this.#values;
  }
}

/** The condition every write of the statement carries: the batch continues the stored tip. */
const CONTINUES = '(SELECT continues FROM tip)';

/**
 * Add the writes of a batch: blocks, revisions, tree nodes, removed index
 * entries, catalog changes and the index entries the batch leaves in place.
 */
function writeRows(statement: Statement, blocks: BlockWrite[]): void {
  const p = (value: unknown) => statement.parameter(value);
  const bytes = (values: Uint8Array[]) => statement.bytes(values);

  statement.part(
    'b',
    `INSERT INTO blocks (ledger, seq, tx_id, time, block_hash, entries_hash, previous_hash, body)
     SELECT $1, u.* FROM unnest(${p(blocks.map((b) => b.seq))}::bigint[], ${p(blocks.map((b) => b.txId))}::text[],
       ${p(blocks.map((b) => b.time))}::bigint[], ${bytes(blocks.map((b) => b.blockHash))},
       ${bytes(blocks.map((b) => b.entriesHash))}, ${bytes(blocks.map((b) => b.previousHash))},
       ${bytes(blocks.map((b) => b.body))}) AS u
     WHERE ${CONTINUES}`,
  );

  const revisions = blocks.flatMap((block) =>
    block.revisions.map((revision, position) => ({ ...revision, position })),
  );
  if (revisions.length > 0) {
    statement.part(
      'r',
      `INSERT INTO revisions (ledger, doc_id, version, table_id, block_seq, block_pos, tx_time, tx_id, deleted, hash, payload)
       SELECT $1, u.* FROM unnest(${p(revisions.map((r) => r.docId))}::text[], ${p(revisions.map((r) => r.version))}::integer[],
         ${p(revisions.map((r) => r.tableId))}::text[], ${p(revisions.map((r) => r.blockSeq))}::bigint[],
         ${p(revisions.map((r) => r.position))}::integer[], ${p(revisions.map((r) => r.txTime))}::bigint[],
         ${p(revisions.map((r) => r.txId))}::text[], ${p(revisions.map((r) => r.deleted))}::boolean[],
         ${bytes(revisions.map((r) => r.hash))}, ${bytes(revisions.map((r) => r.payload))}) AS u
       WHERE ${CONTINUES}`,
    );
  }

  // A redaction names a revision of an earlier call, never one of this
  // statement, since its transaction read the revision as committed.
  const redactions = blocks.flatMap((block) =>
    (block.redactions ?? []).map((redaction) => ({ ...redaction, seq: block.seq })),
  );
  if (redactions.length > 0) {
    statement.part(
      'y',
      `UPDATE revisions t SET payload = u.payload, redacted_seq = u.seq
       FROM unnest(${p(redactions.map((r) => r.docId))}::text[], ${p(redactions.map((r) => r.version))}::integer[],
         ${bytes(redactions.map((r) => r.payload))}, ${p(redactions.map((r) => r.seq))}::bigint[])
         AS u (doc_id, version, payload, seq)
       WHERE t.ledger = $1 AND t.doc_id = u.doc_id AND t.version = u.version AND t.block_seq < u.seq
         AND ${CONTINUES}`,
    );
  }

  const nodes = blocks.flatMap((block) => block.merkleNodes.filter((node) => node.level > 0));
  if (nodes.length > 0) {
    statement.part(
      'm',
      `INSERT INTO merkle_nodes (ledger, level, idx, hash)
       SELECT $1, u.* FROM unnest(${p(nodes.map((n) => n.level))}::integer[],
         ${p(nodes.map((n) => n.index))}::bigint[], ${bytes(nodes.map((n) => n.hash))}) AS u
       WHERE ${CONTINUES}`,
    );
  }

  const removed = blocks.flatMap((block) =>
    (block.removedEntries ?? []).map((entry) => ({ seq: block.seq, entry })),
  );
  if (removed.length > 0) {
    statement.part(
      'x',
      `INSERT INTO removed_index_entries (ledger, block_seq, index_id, key_mac, key_gen)
       SELECT $1, u.* FROM unnest(${p(removed.map((r) => r.seq))}::bigint[],
         ${p(removed.map((r) => r.entry.indexId))}::text[], ${bytes(removed.map((r) => r.entry.keyMac))},
         ${p(removed.map((r) => r.entry.generation ?? 0))}::bigint[]) AS u
       WHERE ${CONTINUES}`,
    );
  }

  // One row per object, since a statement may not upsert a row twice: a
  // later block's change to the same object wins.
  const catalog = new Map<string, StoredCatalogObject>();
  for (const block of blocks) {
    for (const object of block.catalog) catalog.set(object.objectId, object);
  }
  if (catalog.size > 0) {
    const objects = [...catalog.values()];
    statement.part(
      'c',
      `INSERT INTO catalog (ledger, object_id, kind, block_seq, payload)
       SELECT $1, u.* FROM unnest(${p(objects.map((o) => o.objectId))}::text[], ${p(objects.map((o) => o.kind))}::text[],
         ${p(objects.map((o) => o.blockSeq))}::bigint[], ${bytes(objects.map((o) => o.payload))}) AS u
       WHERE ${CONTINUES}
       ON CONFLICT (ledger, object_id) DO UPDATE
         SET kind = excluded.kind, block_seq = excluded.block_seq, payload = excluded.payload`,
    );
  }

  writeIndexEntries(statement, blocks);
}

/**
 * Add the index entry writes. The stored entries of a document that gets a
 * new revision are replaced by those of its last revision in the batch.
 * Entries that new indexes add for stored documents that the batch does not
 * write are inserted at the documents' current version. This gives the same
 * rows as applying the blocks one by one.
 *
 * All CTEs of a statement see one snapshot and must not touch a row twice,
 * so the old entries are deleted except those the upsert keeps, and the
 * upsert only moves a kept entry to its new version.
 */
function writeIndexEntries(statement: Statement, blocks: BlockWrite[]): void {
  const p = (value: unknown) => statement.parameter(value);
  const bytes = (values: Uint8Array[]) => statement.bytes(values);
  const current = new Map<string, { version: number; entries: Map<string, IndexEntry> }>();
  const fromStore: Array<{ docId: string; entry: IndexEntry }> = [];
  const entryKey = (entry: IndexEntry) => entry.indexId + Buffer.from(entry.keyMac).toString('hex');
  for (const block of blocks) {
    for (const revision of block.revisions) {
      const entries = new Map(revision.indexEntries.map((entry) => [entryKey(entry), entry]));
      current.set(revision.docId, { version: revision.version, entries });
    }
    for (const add of block.indexAdds ?? []) {
      const written = current.get(add.docId);
      if (written !== undefined) written.entries.set(entryKey(add.entry), add.entry);
      else fromStore.push(add);
    }
  }
  // An entry added for a stored document that a later block of the batch
  // rewrites is superseded by that block's own entries.
  const adds = fromStore.filter((add) => !current.has(add.docId));
  const rows = [...current].flatMap(([docId, { version, entries }]) =>
    [...entries.values()].map((entry) => ({ docId, version, entry })),
  );
  const replaced = [...current].filter(([, { version }]) => version > 0).map(([docId]) => docId);

  let kept = '';
  if (rows.length > 0) {
    const indexIds = p(rows.map((row) => row.entry.indexId));
    const keyMacs = statement.bytes(rows.map((row) => row.entry.keyMac));
    const docIds = p(rows.map((row) => row.docId));
    const versions = p(rows.map((row) => row.version));
    const generations = p(rows.map((row) => row.entry.generation ?? 0));
    statement.part(
      'new_entries',
      `SELECT * FROM unnest(${indexIds}::text[], ${keyMacs}, ${docIds}::text[], ${versions}::integer[],
         ${generations}::bigint[])
         AS n (index_id, key_mac, doc_id, version, key_gen)`,
    );
    statement.part(
      'e',
      `INSERT INTO index_entries (ledger, index_id, key_mac, doc_id, version, key_gen)
       SELECT $1, n.* FROM new_entries n WHERE ${CONTINUES}
       ON CONFLICT (ledger, index_id, key_mac, doc_id)
         DO UPDATE SET version = excluded.version, key_gen = excluded.key_gen`,
    );
    kept = `AND NOT EXISTS (SELECT 1 FROM new_entries n
      WHERE n.index_id = i.index_id AND n.key_mac = i.key_mac AND n.doc_id = i.doc_id)`;
  }
  if (replaced.length > 0) {
    statement.part(
      'd',
      `DELETE FROM index_entries i
       WHERE i.ledger = $1 AND i.doc_id = ANY(${p(replaced)}::text[]) ${kept} AND ${CONTINUES}`,
    );
  }
  if (adds.length > 0) {
    statement.part(
      'a',
      `INSERT INTO index_entries (ledger, index_id, key_mac, doc_id, version, key_gen)
       SELECT $1, a.index_id, a.key_mac, a.doc_id, v.version, a.key_gen
       FROM unnest(${p(adds.map((add) => add.entry.indexId))}::text[], ${bytes(adds.map((add) => add.entry.keyMac))},
         ${p(adds.map((add) => add.docId))}::text[], ${p(adds.map((add) => add.entry.generation ?? 0))}::bigint[])
         AS a (index_id, key_mac, doc_id, key_gen)
       JOIN LATERAL (SELECT MAX(r.version) AS version FROM revisions r
         WHERE r.ledger = $1 AND r.doc_id = a.doc_id) AS v ON v.version IS NOT NULL
       WHERE ${CONTINUES}
       ON CONFLICT DO NOTHING`,
    );
  }
}
