import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { load, type dom } from 'ion-js';
import {
  Engine,
  OccConflictError,
  PostgresStore,
  type Ledger,
  type Transaction,
} from '../../src/engine/index.js';
import { verifyLedger } from '../../src/cli/verify-ledger.js';
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
  test('two engines in one process', async () => {
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
    try {
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
    } finally {
      await first.close();
      await second.close();
      await database.drop();
      dir.remove();
    }
  });

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

  test('table created by another engine', async () => {
    const database = await createDatabase();
    const dir = tempDir();
    const first = await Engine.open({
      dataDir: dir.path,
      store: await PostgresStore.open({ url: database.url, poolSize: 2 }),
    });
    const second = await Engine.open({
      dataDir: dir.path,
      store: await PostgresStore.open({ url: database.url, poolSize: 2 }),
    });
    try {
      await first.createLedger('ddl');
      const one = await first.ledger('ddl');
      const two = await second.ledger('ddl');
      await one.run(async (t) => void t.createTable('Late'));
      await two.sync();
      const id = await two.run((t) => t.insert('Late', ion('{x: 1}')));
      const read = await one.run((t) => t.get('Late', id));
      assert.equal(read?.data?.get('x')?.numberValue(), 1);
    } finally {
      await first.close();
      await second.close();
      await database.drop();
      dir.remove();
    }
  });
});
