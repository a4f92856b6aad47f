// Single-document insert transactions committed per second through the
// engine, with 1 and 64 concurrent writers, against raw better-sqlite3
// inserting the same encrypted rows in the same batch sizes in the same run.
// Documents are given as plain objects; a last row gives them as ion-js dom
// values, which cost the caller `dom.Value.from` as well.
import Database from 'better-sqlite3';
import { dom } from 'ion-js';
import { join } from 'node:path';
import { Engine, type DocumentInput, type Ledger } from '../src/engine/index.js';
import { DATABASE_FILE } from '../src/engine/engine.js';
import {
  assembleBatches,
  checkOneInsertPerBlock,
  logBatches,
  loggedRange,
  type LoggedBatch,
  type StoredRows,
} from './batch-log.js';
import { migrations } from '../src/storage/sqlite/migrations.js';
import type { BlockWrite } from '../src/storage/store.js';
import { benchDir, customerRecord, printTable, record } from './util.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

type Input = 'object' | 'dom.Value';

function makeRecord(id: number, input: Input): DocumentInput {
  const fields = customerRecord(id);
  return input === 'object' ? fields : dom.Value.from(fields);
}

/** Run `writers` concurrent insert loops for `seconds`; returns commits/s and the average batch size. */
async function engineRun(
  ledger: Ledger,
  writers: number,
  seconds: number,
  input: Input,
): Promise<{ rate: number; blocks: number }> {
  const deadline = performance.now() + seconds * 1000;
  let commits = 0;
  let next = 0;
  const firstSeq = ledger.tipSeq;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() < deadline) {
        const id = next++;
        const tx = ledger.begin();
        await tx.insert('Customer', makeRecord(id, input));
        await tx.commit();
        commits += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rate: commits / elapsed, blocks: ledger.tipSeq - firstSeq };
}

/** Read the logged batches' rows back from the engine's database file, once the engine is closed. */
function readBatches(dir: string, log: LoggedBatch[]): BlockWrite[][] {
  const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
  const ledger = (db.prepare("SELECT no FROM ledgers WHERE name = 'bench'").get() as { no: number })
    .no;
  const { first, last } = loggedRange(log);
  const rows: StoredRows = {
    blocks: db
      .prepare('SELECT * FROM blocks WHERE ledger = ? AND seq BETWEEN ? AND ?')
      .all(ledger, first, last) as StoredRows['blocks'],
    revisions: db
      .prepare(
        `SELECT * FROM revisions WHERE ledger = ? AND block_seq BETWEEN ? AND ?
         ORDER BY block_seq, block_pos`,
      )
      .all(ledger, first, last) as StoredRows['revisions'],
    // Every entry of the ledger: the batches pick theirs by revision. SQLite
    // ran the join with the revisions in the range for over a minute.
    entries: db
      .prepare('SELECT * FROM index_entries WHERE ledger = ?')
      .all(ledger) as StoredRows['entries'],
    nodes: db
      .prepare('SELECT level, idx, hash FROM merkle_nodes WHERE ledger = ?')
      .all(ledger) as StoredRows['nodes'],
  };
  db.close();
  const batches = assembleBatches(log, rows);
  checkOneInsertPerBlock(batches);
  return batches;
}

/** Insert captured rows with plain prepared statements, one SQLite transaction per captured batch. */
function rawRun(dir: string, batches: BlockWrite[][]): number {
  const db = new Database(join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  for (const migration of migrations) db.exec(migration.sql);
  const block = db.prepare(
    'INSERT INTO blocks (ledger, seq, tx_id, time, block_hash, entries_hash, previous_hash, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const revision = db.prepare(
    'INSERT INTO revisions (ledger, doc_id, version, table_id, block_seq, block_pos, tx_time, tx_id, deleted, hash, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const entry = db.prepare(
    'INSERT INTO index_entries (ledger, index_id, key_mac, doc_id, version) VALUES (?, ?, ?, ?, ?)',
  );
  const node = db.prepare(
    'INSERT INTO merkle_nodes (ledger, level, idx, hash) VALUES (?, ?, ?, ?)',
  );
  const write = db.transaction((blocks: BlockWrite[]) => {
    for (const b of blocks) {
      block.run(1, b.seq, b.txId, b.time, b.blockHash, b.entriesHash, b.previousHash, b.body);
      b.revisions.forEach((r, position) => {
        revision.run(
          1,
          r.docId,
          r.version,
          r.tableId,
          r.blockSeq,
          position,
          r.txTime,
          r.txId,
          0,
          r.hash,
          r.payload,
        );
        for (const e of r.indexEntries) entry.run(1, e.indexId, e.keyMac, r.docId, r.version);
      });
      for (const n of b.merkleNodes) node.run(1, n.level, n.index, n.hash);
    }
  });
  let transactions = 0;
  const started = performance.now();
  for (const batch of batches) {
    write(batch);
    transactions += batch.length;
  }
  const elapsed = (performance.now() - started) / 1000;
  db.close();
  return transactions / elapsed;
}

async function main(): Promise<void> {
  const rows: Array<Record<string, string | number>> = [];
  const runs: Array<{ writers: number; input: Input }> = [
    { writers: 1, input: 'object' },
    { writers: 64, input: 'object' },
    { writers: 64, input: 'dom.Value' },
  ];
  for (const { writers, input } of runs) {
    const dir = benchDir();
    const engine = await Engine.open({ dataDir: dir.path });
    await engine.createLedger('bench');
    const ledger = await engine.ledger('bench');
    await ledger.run(async (t) => {
      t.createTable('Customer');
      await t.createIndex('Customer', 'id');
    });
    await engineRun(ledger, writers, 0.5, input); // warm-up
    const log = logBatches(engine);
    const result = await engineRun(ledger, writers, SECONDS, input);
    await engine.close();

    const batches = readBatches(dir.path, log);
    const raw = rawRun(dir.path, batches);
    const averageBatch = result.blocks / log.length;
    rows.push({
      writers,
      documents: input,
      'engine commits/s': Math.round(result.rate),
      'raw better-sqlite3 tx/s': Math.round(raw),
      'engine / raw': `${((result.rate / raw) * 100).toFixed(1)}%`,
      'avg batch': averageBatch.toFixed(1),
    });
    dir.remove();
  }
  printTable('Single-document insert transactions', rows);
  record('engine-insert', rows);
}

await main();
