import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { load, type dom } from 'ion-js';
import {
  Engine,
  OccConflictError,
  PostgresStore,
  StorageUnavailableError,
  type Ledger,
  type Transaction,
} from '../../src/engine/index.js';
import pg from 'pg';
import { verifyLedger } from '../../src/cli/verify-ledger.js';
import { verifyBlock, verifyRevision } from '../../src/verifier/index.js';
import { APPEND_LOCK_CLASS } from '../../src/storage/postgres/postgres-append.js';
import { SequenceConflictError } from '../../src/storage/store.js';
import { createDatabase, postgresUrl, tempDir } from '../helpers/backends.js';
import { runWorkload, type WorkloadResult } from '../helpers/shared-workload.js';

const ion = (text: string): dom.Value => load(text)!;
const INCREMENTS = 60;
const CLIENTS = 6;
const skip =
  postgresUrl === undefined
    ? 'VELLUM_TEST_POSTGRES_URL is not set; .ci/run starts a server and sets it'
    : undefined;

async function prepareLedger(ledger: Ledger): Promise<void> {
  await ledger.run(async (t) => {
    t.createTable('Counter');
    await t.createIndex('Counter', 'name');
    t.createTable('Item');
  });
  await ledger.run((t) => t.insert('Counter', ion('{name: "c", n: 0}')));
}

/** Check the counter, the inserted items, gapless sequence numbers and the whole journal. */
async function checkLedger(ledger: Ledger, engine: Engine, increments: number): Promise<void> {
  await ledger.sync();
  const [counter] = await ledger.run((t) => t.lookup('Counter', 'name', ion('"c"')));
  assert.equal(counter!.data!.get('n')!.numberValue(), increments, 'no increment is lost');
  const items = await ledger.run((t) => t.scan('Item'));
  assert.equal(items.length, increments, 'every acknowledged insert is stored');

  await checkLedgerJournal(ledger, engine);
}

/** Check gapless sequence numbers and verify the whole journal. */
async function checkLedgerJournal(ledger: Ledger, engine: Engine): Promise<void> {
  await ledger.sync();
  const tip = ledger.tipSeq;
  const blocks = await engine.store.getBlocks(ledger.id, 0, tip + 10);
  assert.deepEqual(
    blocks.map((block) => block.seq),
    Array.from({ length: tip + 1 }, (_, seq) => seq),
    'sequence numbers have no gaps',
  );
  const verified = await verifyLedger(ledger);
  assert.equal(verified.tipAddress.sequenceNo, tip);
}

/** Run `body` with two engines on one new database, closing both and dropping it after. */
async function withTwoEngines(
  poolSize: number,
  body: (first: Engine, second: Engine) => Promise<void>,
): Promise<void> {
  const database = await createDatabase();
  const dir = tempDir();
  const engines: Engine[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const store = await PostgresStore.open({ url: database.url, poolSize });
      engines.push(await Engine.open({ dataDir: dir.path, store }));
    }
    await body(engines[0]!, engines[1]!);
  } finally {
    for (const engine of engines) await engine.close();
    await database.drop();
    dir.remove();
  }
}

function runChild(url: string, dataDir: string, increments: number): Promise<WorkloadResult> {
  const script = fileURLToPath(new URL('../helpers/shared-writer.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    [script, url, dataDir, 'shared', String(increments), String(CLIENTS)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let errors = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(output) as WorkloadResult);
      else reject(new Error(`writer process exited with ${code}: ${errors}`));
    });
  });
}

describe('engines sharing a PostgreSQL store', { skip }, () => {
  test('two engines in one process', () =>
    withTwoEngines(4, async (first, second) => {
      await first.createLedger('shared');
      const one = await first.ledger('shared');
      await prepareLedger(one);
      const two = await second.ledger('shared');
      const results = await Promise.all([
        runWorkload(one, 'one', INCREMENTS / 2, CLIENTS),
        runWorkload(two, 'two', INCREMENTS / 2, CLIENTS),
      ]);
      assert.equal(results[0].increments + results[1].increments, INCREMENTS);
      await checkLedger(one, first, INCREMENTS);
      await checkLedger(two, second, INCREMENTS);
      assert.equal(one.tipSeq, two.tipSeq, 'both engines reach the same tip');
    }));

  test('two processes', async () => {
    const database = await createDatabase();
    const dir = tempDir();
    const engine = await Engine.open({
      dataDir: dir.path,
      store: await PostgresStore.open({ url: database.url, poolSize: 4 }),
    });
    try {
      await engine.createLedger('shared');
      const ledger = await engine.ledger('shared');
      await prepareLedger(ledger);
      const [child, parent] = await Promise.all([
        runChild(database.url, dir.path, INCREMENTS / 2),
        runWorkload(ledger, 'parent', INCREMENTS / 2, CLIENTS),
      ]);
      assert.equal(child.increments, INCREMENTS / 2);
      assert.equal(parent.increments, INCREMENTS / 2);
      await checkLedger(ledger, engine, INCREMENTS);
    } finally {
      await engine.close();
      await database.drop();
      dir.remove();
    }
  });

  test('read-only audits see no torn state', async () => {
    const database = await createDatabase();
    const dir = tempDir();
    const first = await Engine.open({
      dataDir: dir.path,
      store: await PostgresStore.open({ url: database.url, poolSize: 4 }),
    });
    const second = await Engine.open({
      dataDir: dir.path,
      store: await PostgresStore.open({ url: database.url, poolSize: 4 }),
    });
    const balance = async (t: Transaction, no: number) =>
      (await t.lookup('Account', 'no', ion(String(no))))[0]!;
    try {
      await first.createLedger('audit');
      const writer = await first.ledger('audit');
      await writer.run(async (t) => {
        t.createTable('Account');
        await t.createIndex('Account', 'no');
      });
      await writer.run(async (t) => {
        await t.insert('Account', ion('{no: 0, balance: 100}'));
        await t.insert('Account', ion('{no: 1, balance: 100}'));
      });
      const auditor = await second.ledger('audit');

      let transfersDone = false;
      const transfers = (async () => {
        for (let i = 0; i < 40; i++) {
          await writer.run(
            async (t) => {
              const from = await balance(t, 0);
              const to = await balance(t, 1);
              const amount = from.data!.get('balance')!.numberValue()!;
              const target = to.data!.get('balance')!.numberValue()!;
              await t.update('Account', from.id, ion(`{no: 0, balance: ${amount - 1}}`));
              await t.update('Account', to.id, ion(`{no: 1, balance: ${target + 1}}`));
            },
            { retryLimit: 100 },
          );
        }
        transfersDone = true;
      })();
      let committed = 0;
      let conflicts = 0;
      while (!transfersDone) {
        const t = auditor.begin();
        const a = (await balance(t, 0)).data!.get('balance')!.numberValue()!;
        await new Promise((resolve) => setTimeout(resolve, 2));
        const b = (await balance(t, 1)).data!.get('balance')!.numberValue()!;
        try {
          await t.commit();
          committed += 1;
          assert.equal(a + b, 200, `a committed audit saw ${a} + ${b}`);
        } catch (error) {
          assert.ok(error instanceof OccConflictError, String(error));
          conflicts += 1;
        }
      }
      await transfers;
      assert.ok(committed > 0, 'some audits commit');
      assert.ok(conflicts > 0, 'some audits overlap a transfer, or the test proves little');
    } finally {
      await first.close();
      await second.close();
      await database.drop();
      dir.remove();
    }
  });

  test('lost lock connection ends the turn', async () => {
    const database = await createDatabase();
    const dir = tempDir();
    const engines = [
      await Engine.open({
        dataDir: dir.path,
        store: await PostgresStore.open({ url: database.url, poolSize: 4 }),
      }),
      await Engine.open({
        dataDir: dir.path,
        store: await PostgresStore.open({ url: database.url, poolSize: 4 }),
      }),
    ];
    // Appends that lost the race to the other engine: without the lock
    // both engines append at once, and each loss costs a catch-up.
    let lostRaces = 0;
    for (const engine of engines) {
      const store = engine.store;
      const append = store.appendBlocks.bind(store);
      store.appendBlocks = async (ledgerId, blocks) => {
        try {
          await append(ledgerId, blocks);
        } catch (error) {
          if (error instanceof SequenceConflictError) lostRaces += 1;
          throw error;
        }
      };
    }
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await engines[0]!.createLedger('locks');
      const ledgers = [await engines[0]!.ledger('locks'), await engines[1]!.ledger('locks')];
      await ledgers[0]!.run(async (t) => void t.createTable('Item'));
      await ledgers[1]!.sync();

      let stop = false;
      let committed = 0;
      const failures: string[] = [];
      const writers = ledgers.flatMap((ledger, n) =>
        Array.from({ length: 6 }, async (_, w) => {
          for (let i = 0; !stop; i++) {
            try {
              // No retries: an insert conflicts with nothing, so it commits,
              // unless the session ended while it waited for the lock.
              await ledger.run((t) => t.insert('Item', ion(`{n: ${n}, w: ${w}, i: ${i}}`)), {
                retryLimit: 0,
              });
              committed += 1;
            } catch (error) {
              if (!(error instanceof StorageUnavailableError)) failures.push(String(error));
              await new Promise((resolve) => setTimeout(resolve, 10));
            }
          }
        }),
      );
      // End the session that holds the ledger's append lock, as an
      // administrator or a network failure may; the store's other
      // connections live on.
      let terminated = 0;
      for (let round = 0; round < 10; round++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        const result = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_locks
           WHERE locktype = 'advisory' AND granted AND classid = $1::oid AND objsubid = 2
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [APPEND_LOCK_CLASS],
        );
        terminated += result.rowCount ?? 0;
      }
      stop = true;
      await Promise.all(writers);

      assert.deepEqual(failures, [], 'no insert fails with a conflict');
      assert.ok(committed > 0);
      // Each ended session may cost the batches in flight until the next turn
      // check. An engine that went on appending without the lock lost races
      // by the hundred.
      assert.ok(
        lostRaces <= 5 * terminated + 10,
        `${lostRaces} appends lost the race after ${terminated} lock sessions ended`,
      );
      // Every turn after an ended session takes the lock again, so there
      // was a holder to end each time.
      assert.ok(terminated >= 5, `the lock holder's session was ended ${terminated} times`);
      const items = await ledgers[0]!.run((t) => t.scan('Item'));
      assert.equal(items.length, committed, 'every acknowledged insert is stored');
      await checkLedgerJournal(ledgers[0]!, engines[0]!);
    } finally {
      await admin.end();
      for (const engine of engines) await engine.close();
      await database.drop();
      dir.remove();
    }
  });

  test('racing redactions commit once', () =>
    withTwoEngines(2, async (...engines) => {
      await engines[0]!.createLedger('redact');
      const [one, two] = await Promise.all(engines.map((engine) => engine.ledger('redact')));
      const tableId = await one!.run(async (t) => t.createTable('People'));
      const docId = await one!.run((t) => t.insert('People', ion('{ssn: "123-45-6789"}')));
      await one!.run((t) => t.update('People', docId, ion('{ssn: "removed"}')));
      await two!.sync();
      const [first] = await two!.documentHistory(docId);

      // Both engines check the revision before either commits its redaction.
      const transactions = [one!.begin(), two!.begin()];
      for (const transaction of transactions) {
        await transaction.redactRevision(first!.blockAddress!, tableId, docId);
      }
      const outcomes = await Promise.allSettled(transactions.map((t) => t.commit()));
      const committed = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      assert.equal(committed.length, 1, 'exactly one redaction commits');
      const rejected = outcomes.find((outcome) => outcome.status === 'rejected');
      assert.ok(rejected?.reason instanceof OccConflictError, String(rejected?.reason));

      // A retry of the losing redaction fails because the revision is already redacted.
      const loser = outcomes[0]!.status === 'rejected' ? one! : two!;
      await assert.rejects(
        loser.run((t) => t.redactRevision(first!.blockAddress!, tableId, docId)),
        /Revision 0 of document \S+ is already redacted/,
      );
      await one!.sync();
      const blocks = await Promise.all(
        Array.from({ length: one!.tipSeq + 1 }, (_, seq) => one!.getBlock(seq)),
      );
      const redactions = blocks.filter(({ block }) => block.get('redactionInfo') !== null);
      assert.equal(redactions.length, 1, 'the journal records the redaction once');
      await checkLedgerJournal(one!, engines[0]!);
    }));

  test('proofs against another engine digest', () =>
    withTwoEngines(2, async (...engines) => {
      await engines[0]!.createLedger('proofs');
      const [writer, reader] = await Promise.all(engines.map((engine) => engine.ledger('proofs')));
      await writer!.run(async (t) => void t.createTable('Item'));
      const docId = await writer!.run((t) => t.insert('Item', ion('{n: 1}')));
      const { digest, tipAddress } = await writer!.digest();
      const tip = tipAddress.sequenceNo;
      const [revision] = await writer!.documentHistory(docId);
      const seq = revision!.blockAddress!.sequenceNo;

      // The reader has not seen the writer's blocks, yet proves them against its digest.
      assert.ok(reader!.tipSeq < tip);
      const block = await reader!.getBlock(seq, tip);
      verifyBlock({ block: block.block, proof: block.proof!, digest, tipAddress });
      const proved = await reader!.getRevision(seq, docId, tip);
      verifyRevision({ revision: proved.revision, proof: proved.proof!, digest, tipAddress });
      assert.deepEqual(await reader!.digestAt(tip), digest);
      assert.equal((await reader!.consistencyProof(0, tip)).length > 0, true);
    }));

  test('ledger recreated by another engine', () =>
    withTwoEngines(2, async (...engines) => {
      const [first, second] = engines;
      await first.createLedger('again', { deletionProtection: false });
      const old = await second.ledger('again');
      await old.run(async (t) => void t.createTable('Item'));

      // The other engine checks its open ledger against the store once a second.
      const checkInterval = () => new Promise((resolve) => setTimeout(resolve, 1_100));
      await first.deleteLedger('again');
      await checkInterval();
      await assert.rejects(second.ledger('again'), { code: 'ResourceNotFoundException' });
      await first.createLedger('again', { deletionProtection: false });
      const current = await second.ledger('again');
      assert.equal(current.id, (await first.ledger('again')).id);
      assert.notEqual(current.id, old.id);
      await current.run(async (t) => void t.createTable('Item'));
      await current.run((t) => t.insert('Item', ion('{n: 1}')));
      await checkLedgerJournal(current, second);
    }));

  test('table created by another engine', () =>
    withTwoEngines(2, async (first, second) => {
      await first.createLedger('ddl');
      const one = await first.ledger('ddl');
      const two = await second.ledger('ddl');
      await one.run(async (t) => void t.createTable('Late'));
      await two.sync();
      const id = await two.run((t) => t.insert('Late', ion('{x: 1}')));
      const read = await one.run((t) => t.get('Late', id));
      assert.equal(read?.data?.get('x')?.numberValue(), 1);
    }));
});
