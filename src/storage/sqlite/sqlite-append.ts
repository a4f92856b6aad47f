import type Database from 'better-sqlite3';
import { SequenceConflictError, type BlockWrite } from '../store.js';

const cache = new WeakMap<Database.Database, Map<string, Database.Statement>>();

function prepared(db: Database.Database, sql: string): Database.Statement {
  let statements = cache.get(db);
  if (statements === undefined) {
    statements = new Map();
    cache.set(db, statements);
  }
  let statement = statements.get(sql);
  if (statement === undefined) {
    statement = db.prepare(sql);
    statements.set(sql, statement);
  }
  return statement;
}

/**
 * Run an append transaction immediately. When its blocks redact revisions,
 * the freed bytes of the old payloads are overwritten (`secure_delete`), and
 * the WAL is then copied into the database and truncated, so that no copy of
 * a redacted payload stays in either file.
 */
export function runAppend(
  db: Database.Database,
  append: Database.Transaction<(ledger: number, blocks: BlockWrite[]) => void>,
  ledger: number,
  blocks: BlockWrite[],
): void {
  if (!blocks.some((block) => (block.redactions?.length ?? 0) > 0)) {
    append.immediate(ledger, blocks);
    return;
  }
  db.pragma('secure_delete = ON');
  try {
    append.immediate(ledger, blocks);
  } finally {
    db.pragma('secure_delete = OFF');
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/**
 * Write blocks and everything they change. The caller runs this inside one
 * SQLite transaction, so a `SequenceConflictError` or any failure leaves the
 * database as it was.
 */
export function appendBlocks(db: Database.Database, ledger: number, blocks: BlockWrite[]): void {
  const statement = (sql: string) => prepared(db, sql);
  const last = statement(
    'SELECT seq, block_hash FROM blocks WHERE ledger = ? ORDER BY seq DESC LIMIT 1',
  ).get(ledger) as { seq: number; block_hash: Buffer } | undefined;
  const next = last === undefined ? 0 : last.seq + 1;
  const first = blocks[0]!;
  if (first.seq !== next) throw new SequenceConflictError(next, first.seq);
  if (last !== undefined && !last.block_hash.equals(first.previousHash)) {
    throw new SequenceConflictError(next, first.seq);
  }

  const insertBlock = statement(
    `INSERT INTO blocks (ledger, seq, tx_id, time, block_hash, entries_hash, previous_hash, body)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertRevision = statement(
    `INSERT INTO revisions (ledger, doc_id, version, table_id, block_seq, block_pos, tx_time, tx_id, deleted, hash, payload)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const deleteEntries = statement('DELETE FROM index_entries WHERE ledger = ? AND doc_id = ?');
  const insertEntry = statement(
    'INSERT OR REPLACE INTO index_entries (ledger, index_id, key_mac, doc_id, version, key_gen) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const addEntry = statement(
    `INSERT OR REPLACE INTO index_entries (ledger, index_id, key_mac, doc_id, version, key_gen)
     SELECT ?, ?, ?, doc_id, MAX(version), ? FROM revisions WHERE ledger = ? AND doc_id = ?`,
  );
  const insertNode = statement(
    'INSERT INTO merkle_nodes (ledger, level, idx, hash) VALUES (?, ?, ?, ?)',
  );
  const insertRemoved = statement(
    'INSERT INTO removed_index_entries (ledger, block_seq, index_id, key_mac, key_gen) VALUES (?, ?, ?, ?, ?)',
  );
  const redact = statement(
    `UPDATE revisions SET payload = ?, redacted_seq = ?
     WHERE ledger = ? AND doc_id = ? AND version = ? AND block_seq < ?`,
  );
  const upsertCatalog = statement(
    `INSERT INTO catalog (ledger, object_id, kind, block_seq, payload) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (ledger, object_id) DO UPDATE SET block_seq = excluded.block_seq, payload = excluded.payload`,
  );

  let expected = next;
  for (const block of blocks) {
    if (block.seq !== expected) throw new SequenceConflictError(expected, block.seq);
    expected += 1;
    insertBlock.run(
      ledger,
      block.seq,
      block.txId,
      block.time,
      block.blockHash,
      block.entriesHash,
      block.previousHash,
      block.body,
    );
    for (const [position, revision] of block.revisions.entries()) {
      insertRevision.run(
        ledger,
        revision.docId,
        revision.version,
        revision.tableId,
        revision.blockSeq,
        position,
        revision.txTime,
        revision.txId,
        revision.deleted ? 1 : 0,
        revision.hash,
        revision.payload,
      );
      if (revision.version > 0) deleteEntries.run(ledger, revision.docId);
      for (const entry of revision.indexEntries) {
        insertEntry.run(
          ledger,
          entry.indexId,
          entry.keyMac,
          revision.docId,
          revision.version,
          entry.generation ?? 0,
        );
      }
    }
    for (const add of block.indexAdds ?? []) {
      addEntry.run(
        ledger,
        add.entry.indexId,
        add.entry.keyMac,
        add.entry.generation ?? 0,
        ledger,
        add.docId,
      );
    }
    for (const entry of block.removedEntries ?? []) {
      insertRemoved.run(ledger, block.seq, entry.indexId, entry.keyMac, entry.generation ?? 0);
    }
    for (const redaction of block.redactions ?? []) {
      redact.run(
        redaction.payload,
        block.seq,
        ledger,
        redaction.docId,
        redaction.version,
        block.seq,
      );
    }
    for (const object of block.catalog) {
      upsertCatalog.run(ledger, object.objectId, object.kind, object.blockSeq, object.payload);
    }
    for (const node of block.merkleNodes) {
      if (node.level === 0) continue;
      insertNode.run(ledger, node.level, node.index, node.hash);
    }
  }
}
