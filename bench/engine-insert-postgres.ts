// Single-document insert transactions committed per second on the
// PostgreSQL store, with 64 writers per engine, from one engine and from two
// engines in two processes on one database. The baseline is raw `pg`
// inserting the very rows the first engine wrote, in the same batch sizes,
// in the same run. The raw baseline writes its batches one after another on one
// connection: appends to one ledger are serial, since each block's hash
// covers the one before.
import pg from 'pg';
import { PostgresStore } from '../src/storage/postgres/postgres-store.js';
import type { BlockWrite } from '../src/storage/store.js';
import type { Engine, Ledger } from '../src/engine/index.js';
import {
  assembleBatches,
  checkOneInsertPerBlock,
  logBatches,
  loggedRange,
  type LoggedBatch,
  type StoredRows,
} from './batch-log.js';
import { benchDir, printTable, record } from './util.js';
import { createDatabase, insertLoop, openEngine, runWorker } from './postgres-common.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WRITERS = 64;

async function prepare(engine: Engine): Promise<Ledger> {
  await engine.createLedger('bench');
  const ledger = await engine.ledger('bench');
  await ledger.run(async (t) => {
    t.createTable('Customer');
    await t.createIndex('Customer', 'id');
  });
  return ledger;
}

/** Read the logged batches' rows back from the engine's database, before it is dropped. */
async function readBatches(url: string, log: LoggedBatch[]): Promise<BlockWrite[][]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows: ledgers } = await client.query<{ no: number }>(
    "SELECT no FROM ledgers WHERE name = 'bench'",
  );
  const { first, last } = loggedRange(log);
  const values = [ledgers[0]!.no, first, last];
  const select = async <T extends pg.QueryResultRow>(sql: string, parameters = values) =>
    (await client.query<T>(sql, parameters)).rows;
  const rows: StoredRows = {
    blocks: await select('SELECT * FROM blocks WHERE ledger = $1 AND seq BETWEEN $2 AND $3'),
    revisions: await select(
      `SELECT * FROM revisions WHERE ledger = $1 AND block_seq BETWEEN $2 AND $3
       ORDER BY block_seq, block_pos`,
    ),
    entries: await select(
      `SELECT e.* FROM index_entries e JOIN revisions r USING (ledger, doc_id, version)
       WHERE r.ledger = $1 AND r.block_seq BETWEEN $2 AND $3`,
    ),
    nodes: await select('SELECT level, idx, hash FROM merkle_nodes WHERE ledger = $1', [
      ledgers[0]!.no,
    ]),
  };
  await client.end();
  const batches = assembleBatches(log, rows);
  checkOneInsertPerBlock(batches);
  return batches;
}

/**
 * Insert captured batches with plain `pg`: one statement per batch, which
 * commits by itself, inserting blocks, revisions, index entries and tree
 * nodes with `unnest`. Returns transactions per second.
 */
async function rawRun(batches: BlockWrite[][]): Promise<number> {
  const database = await createDatabase();
  await (await PostgresStore.open({ url: database.url, poolSize: 2 })).close();
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const sql = `WITH b AS (
      INSERT INTO blocks (ledger, seq, tx_id, time, block_hash, entries_hash, previous_hash, body)
      SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[], $8::bytea[])),
    r AS (
      INSERT INTO revisions (ledger, doc_id, version, table_id, block_seq, block_pos, tx_time, tx_id, deleted, hash, payload)
      SELECT $1, * FROM unnest($9::text[], $10::integer[], $11::text[], $12::bigint[], $13::integer[], $14::bigint[], $15::text[], $16::boolean[], $17::bytea[], $18::bytea[])),
    e AS (
      INSERT INTO index_entries (ledger, index_id, key_mac, doc_id, version)
      SELECT $1, * FROM unnest($19::text[], $20::bytea[], $21::text[], $22::integer[])),
    m AS (
      INSERT INTO merkle_nodes (ledger, level, idx, hash)
      SELECT $1, * FROM unnest($23::integer[], $24::bigint[], $25::bytea[]))
    SELECT 1`;
  const parameters = (ledger: number, blocks: BlockWrite[]): unknown[] => {
    const revisions = blocks.flatMap((b) => b.revisions.map((r, position) => ({ r, position })));
    const entries = revisions.flatMap(({ r }) => r.indexEntries.map((e) => ({ e, r })));
    const nodes = blocks.flatMap((b) => b.merkleNodes.filter((n) => n.level > 0));
    return [
      ledger,
      blocks.map((b) => b.seq),
      blocks.map((b) => b.txId),
      blocks.map((b) => b.time),
      blocks.map((b) => b.blockHash),
      blocks.map((b) => b.entriesHash),
      blocks.map((b) => b.previousHash),
      blocks.map((b) => b.body),
      revisions.map(({ r }) => r.docId),
      revisions.map(({ r }) => r.version),
      revisions.map(({ r }) => r.tableId),
      revisions.map(({ r }) => r.blockSeq),
      revisions.map(({ position }) => position),
      revisions.map(({ r }) => r.txTime),
      revisions.map(({ r }) => r.txId),
      revisions.map(({ r }) => r.deleted),
      revisions.map(({ r }) => r.hash),
      revisions.map(({ r }) => r.payload),
      entries.map(({ e }) => e.indexId),
      entries.map(({ e }) => e.keyMac),
      entries.map(({ r }) => r.docId),
      entries.map(({ r }) => r.version),
      nodes.map((n) => n.level),
      nodes.map((n) => n.index),
      nodes.map((n) => n.hash),
    ];
  };
  const started = performance.now();
  for (const batch of batches) await client.query(sql, parameters(1, batch));
  const elapsed = (performance.now() - started) / 1000;
  await client.end();
  await database.drop();
  const transactions = batches.reduce((sum, batch) => sum + batch.length, 0);
  return transactions / elapsed;
}

async function measure(engines: 1 | 2): Promise<Record<string, string | number>> {
  const database = await createDatabase();
  const dir = benchDir();
  const engine = await openEngine(database.url, dir.path);
  const ledger = await prepare(engine);
  await insertLoop(ledger, WRITERS, 0, Date.now() + 500); // warm-up

  const worker =
    engines === 2
      ? runWorker({
          mode: 'insert',
          url: database.url,
          dataDir: dir.path,
          concurrency: WRITERS,
          extra: 100_000_000,
        })
      : undefined;
  await worker?.ready;
  const log = logBatches(engine);
  const firstSeq = ledger.tipSeq;
  const deadline = Date.now() + SECONDS * 1000;
  worker?.start(deadline);
  const started = performance.now();
  const [own, other] = await Promise.all([
    insertLoop(ledger, WRITERS, 1_000_000, deadline),
    worker?.done ?? 0,
  ]);
  const elapsed = (performance.now() - started) / 1000;
  const ownBlocks = ledger.tipSeq - firstSeq;
  await engine.close();
  const batches = await readBatches(database.url, log);
  await database.drop();
  dir.remove();

  const rate = (own + other) / elapsed;
  const raw = await rawRun(batches);
  const logged = log.reduce((sum, batch) => sum + batch.count, 0);
  const retried = log.length - new Set(log.map((batch) => batch.firstTxId)).size;
  return {
    engines,
    writers: WRITERS * engines,
    'engine commits/s': Math.round(rate),
    'raw pg tx/s': Math.round(raw),
    'engine / raw': `${((rate / raw) * 100).toFixed(1)}%`,
    'avg batch': (logged / log.length).toFixed(1),
    // Appends repeated after losing the race to the other engine.
    'appends retried': `${((retried / log.length) * 100).toFixed(0)}%`,
    'blocks (first engine)': ownBlocks,
  };
}

async function main(): Promise<void> {
  const rows = [await measure(1), await measure(2)];
  printTable('Single-document insert transactions on PostgreSQL', rows);
  record('engine-insert-postgres', rows);
}

await main();
