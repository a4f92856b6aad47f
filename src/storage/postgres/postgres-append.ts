import type { PoolClient } from 'pg';
import {
  SequenceConflictError,
  type BlockWrite,
  type IndexEntry,
  type StoredCatalogObject,
} from '../store.js';

/** Key space of the advisory lock that serialises appends to one ledger (ASCII "VLAP"). */
export const APPEND_LOCK_CLASS = 0x564c4150;

/**
 * Write blocks and everything they change in one transaction, holding the
 * ledger's advisory transaction lock, so that writers in several processes
 * append in turn and each sees the tip the previous one left.
 *
 * Rows go in with one multi-row statement per table (`unnest` over arrays),
 * so a batch of many blocks costs four round trips: lock and read the tip,
 * write, write index entries, commit. Any failure rolls everything back.
 */
export async function appendBlocks(
  client: PoolClient,
  ledger: number,
  blocks: BlockWrite[],
): Promise<void> {
  // The ledger number is an integer from the database, so it is safe to
  // inline; a simple query sends the three statements in one round trip.
  // In READ COMMITTED each statement takes a new snapshot, so the tip read
  // after the lock includes every append that committed before it.
  const results = (await client.query(
    `BEGIN;
     SELECT pg_advisory_xact_lock(${APPEND_LOCK_CLASS}, ${ledger});
     SELECT seq, block_hash FROM blocks WHERE ledger = ${ledger} ORDER BY seq DESC LIMIT 1`,
  )) as unknown as Array<{ rows: Array<{ seq: number; block_hash: Buffer }> }>;
  try {
    const last = results[2]!.rows[0];
    checkContinues(last, blocks);
    const entries = planIndexEntries(blocks);
    const entriesWritten = await writeRows(client, ledger, blocks, entries.rows);
    if (!entriesWritten) await insertEntries(client, ledger, entries.rows);
    await insertEntriesFromStore(client, ledger, entries.adds);
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
  await client.query('COMMIT');
}

function checkContinues(
  last: { seq: number; block_hash: Buffer } | undefined,
  blocks: BlockWrite[],
): void {
  const next = last === undefined ? 0 : last.seq + 1;
  let expected = next;
  for (const block of blocks) {
    if (block.seq !== expected) throw new SequenceConflictError(expected, block.seq);
    expected += 1;
  }
  const first = blocks[0]!;
  if (last !== undefined && !last.block_hash.equals(first.previousHash)) {
    throw new SequenceConflictError(next, first.seq);
  }
}

/**
 * Insert blocks, revisions, tree nodes, removed index entries and catalog
 * changes in one statement, and delete the index entries of documents that
 * get a new revision. When nothing is deleted, the batch's index entries go
 * into the same statement; returns whether they did.
 */
async function writeRows(
  client: PoolClient,
  ledger: number,
  blocks: BlockWrite[],
  entries: IndexRow[],
): Promise<boolean> {
  const parameters: unknown[] = [ledger];
  const parts: string[] = [];
  const add = (name: string, sql: (p: (value: unknown) => string) => string) => {
    parts.push(
      `${name} AS (${sql((value) => {
        parameters.push(value);
        return `$${parameters.length}`;
      })})`,
    );
  };

  add(
    'b',
    (
      p,
    ) => `INSERT INTO blocks (ledger, seq, tx_id, time, block_hash, entries_hash, previous_hash, body)
      SELECT $1, * FROM unnest(${p(blocks.map((b) => b.seq))}::bigint[], ${p(blocks.map((b) => b.txId))}::text[],
        ${p(blocks.map((b) => b.time))}::bigint[], ${p(blocks.map((b) => b.blockHash))}::bytea[],
        ${p(blocks.map((b) => b.entriesHash))}::bytea[], ${p(blocks.map((b) => b.previousHash))}::bytea[],
        ${p(blocks.map((b) => b.body))}::bytea[])`,
  );

  const revisions = blocks.flatMap((block) =>
    block.revisions.map((revision, position) => ({ revision, position })),
  );
  if (revisions.length > 0) {
    const column = <T>(get: (r: (typeof revisions)[number]['revision']) => T) =>
      revisions.map(({ revision }) => get(revision));
    add(
      'r',
      (
        p,
      ) => `INSERT INTO revisions (ledger, doc_id, version, table_id, block_seq, block_pos, tx_time, tx_id, deleted, hash, payload)
        SELECT $1, * FROM unnest(${p(column((r) => r.docId))}::text[], ${p(column((r) => r.version))}::integer[],
          ${p(column((r) => r.tableId))}::text[], ${p(column((r) => r.blockSeq))}::bigint[],
          ${p(revisions.map(({ position }) => position))}::integer[], ${p(column((r) => r.txTime))}::bigint[],
          ${p(column((r) => r.txId))}::text[], ${p(column((r) => r.deleted))}::boolean[],
          ${p(column((r) => r.hash))}::bytea[], ${p(column((r) => r.payload))}::bytea[])`,
    );
  }

  const nodes = blocks.flatMap((block) => block.merkleNodes.filter((node) => node.level > 0));
  if (nodes.length > 0) {
    add(
      'm',
      (p) => `INSERT INTO merkle_nodes (ledger, level, idx, hash)
        SELECT $1, * FROM unnest(${p(nodes.map((n) => n.level))}::integer[],
          ${p(nodes.map((n) => n.index))}::bigint[], ${p(nodes.map((n) => n.hash))}::bytea[])`,
    );
  }

  const removed = blocks.flatMap((block) =>
    (block.removedEntries ?? []).map((entry) => ({ seq: block.seq, entry })),
  );
  if (removed.length > 0) {
    add(
      'x',
      (p) => `INSERT INTO removed_index_entries (ledger, block_seq, index_id, key_mac)
        SELECT $1, * FROM unnest(${p(removed.map((r) => r.seq))}::bigint[],
          ${p(removed.map((r) => r.entry.indexId))}::text[], ${p(removed.map((r) => r.entry.keyMac))}::bytea[])`,
    );
  }

  // One row per object: a later block's change to the same object wins.
  const catalog = new Map<string, StoredCatalogObject>();
  for (const block of blocks)
    for (const object of block.catalog) catalog.set(object.objectId, object);
  if (catalog.size > 0) {
    const objects = [...catalog.values()];
    add(
      'c',
      (p) => `INSERT INTO catalog (ledger, object_id, kind, block_seq, payload)
        SELECT $1, * FROM unnest(${p(objects.map((o) => o.objectId))}::text[], ${p(objects.map((o) => o.kind))}::text[],
          ${p(objects.map((o) => o.blockSeq))}::bigint[], ${p(objects.map((o) => o.payload))}::bytea[])
        ON CONFLICT (ledger, object_id) DO UPDATE SET kind = excluded.kind, block_seq = excluded.block_seq, payload = excluded.payload`,
    );
  }

  // Entries of documents that get a new revision are replaced, below.
  const replaced = [
    ...new Set(
      revisions
        .filter(({ revision }) => revision.version > 0)
        .map(({ revision }) => revision.docId),
    ),
  ];
  if (replaced.length > 0) {
    add(
      'd',
      (p) => `DELETE FROM index_entries WHERE ledger = $1 AND doc_id = ANY(${p(replaced)}::text[])`,
    );
  }
  // The statement sees one snapshot, so entries it inserts must not be ones
  // it deletes; with deletions, they follow in a statement of their own.
  const withEntries = replaced.length === 0 && entries.length > 0;
  if (withEntries) {
    add('e', (p) => `${INSERT_ENTRIES} ${entryArrays(entries, p)} ON CONFLICT DO NOTHING`);
  }

  await client.query(`WITH ${parts.join(',\n')} SELECT 1`, parameters);
  return withEntries || entries.length === 0;
}

interface IndexRow {
  docId: string;
  version: number;
  entry: IndexEntry;
}

const INSERT_ENTRIES = 'INSERT INTO index_entries (ledger, index_id, key_mac, doc_id, version)';

function entryArrays(rows: IndexRow[], p: (value: unknown) => string): string {
  return `SELECT $1, * FROM unnest(${p(rows.map((row) => row.entry.indexId))}::text[],
    ${p(rows.map((row) => row.entry.keyMac))}::bytea[], ${p(rows.map((row) => row.docId))}::text[],
    ${p(rows.map((row) => row.version))}::integer[])`;
}

async function insertEntries(client: PoolClient, ledger: number, rows: IndexRow[]): Promise<void> {
  if (rows.length === 0) return;
  const parameters: unknown[] = [ledger];
  const p = (value: unknown) => {
    parameters.push(value);
    return `$${parameters.length}`;
  };
  await client.query(
    `${INSERT_ENTRIES} ${entryArrays(rows, p)} ON CONFLICT DO NOTHING`,
    parameters,
  );
}

/**
 * Work out the index entries the batch leaves in place: those of each
 * document's last revision in the batch (`rows`), plus entries that new
 * indexes add for stored documents the batch does not write (`adds`). This
 * gives the same rows as applying the blocks one by one.
 */
function planIndexEntries(blocks: BlockWrite[]): {
  rows: IndexRow[];
  adds: Array<{ docId: string; entry: IndexEntry }>;
} {
  const current = new Map<string, { version: number; entries: IndexEntry[] }>();
  const fromStore: Array<{ docId: string; entry: IndexEntry }> = [];
  for (const block of blocks) {
    for (const revision of block.revisions) {
      current.set(revision.docId, {
        version: revision.version,
        entries: [...revision.indexEntries],
      });
    }
    for (const add of block.indexAdds ?? []) {
      const written = current.get(add.docId);
      if (written !== undefined) written.entries.push(add.entry);
      else fromStore.push(add);
    }
  }
  // An index entry added for a stored document that a later block of the
  // batch rewrites is superseded by that block's own entries.
  const adds = fromStore.filter((add) => !current.has(add.docId));
  const rows = [...current].flatMap(([docId, { version, entries }]) =>
    entries.map((entry) => ({ docId, version, entry })),
  );
  return { rows, adds };
}

/** Index stored documents under an index created in the batch, at their current version. */
async function insertEntriesFromStore(
  client: PoolClient,
  ledger: number,
  adds: Array<{ docId: string; entry: IndexEntry }>,
): Promise<void> {
  if (adds.length > 0) {
    await client.query(
      `INSERT INTO index_entries (ledger, index_id, key_mac, doc_id, version)
       SELECT $1, a.index_id, a.key_mac, a.doc_id,
         (SELECT MAX(version) FROM revisions r WHERE r.ledger = $1 AND r.doc_id = a.doc_id)
       FROM unnest($2::text[], $3::bytea[], $4::text[]) AS a (index_id, key_mac, doc_id)
       WHERE EXISTS (SELECT 1 FROM revisions r WHERE r.ledger = $1 AND r.doc_id = a.doc_id)
       ON CONFLICT DO NOTHING`,
      [
        ledger,
        adds.map((add) => add.entry.indexId),
        adds.map((add) => add.entry.keyMac),
        adds.map((add) => add.docId),
      ],
    );
  }
}
