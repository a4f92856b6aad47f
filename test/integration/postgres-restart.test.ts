import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { load, type dom } from 'ion-js';
import pg from 'pg';
import {
  Engine,
  OccConflictError,
  PostgresStore,
  StorageUnavailableError,
} from '../../src/engine/index.js';
import { verifyLedger } from '../../src/cli/verify-ledger.js';
import { StoreUnavailableError } from '../../src/storage/store.js';
import {
  latestPostgresSchemaVersion,
  postgresMigrations,
} from '../../src/storage/postgres/postgres-migrations.js';
import { postgresBinDir, startCluster } from '../helpers/postgres-cluster.js';
import { tempDir } from '../helpers/backends.js';

const ion = (text: string): dom.Value => load(text)!;
const bin = postgresBinDir();
const skip =
  bin === undefined
    ? 'PostgreSQL server binaries are not installed (apt-get install postgresql)'
    : undefined;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Run `read`, retrying a few times while the server is still settling after a restart. */
async function settled<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof StorageUnavailableError) || attempt >= 10) throw error;
      await sleep(200);
    }
  }
}

describe('PostgreSQL store on a server of its own', { skip }, () => {
  test('restart under load loses no acknowledged commit', async () => {
    const cluster = await startCluster(bin!);
    const dir = tempDir();
    const store = await PostgresStore.open({
      url: cluster.url,
      poolSize: 4,
      connectTimeoutMs: 3_000,
    });
    const engine = await Engine.open({ dataDir: dir.path, store });
    try {
      await engine.createLedger('r');
      const ledger = await engine.ledger('r');
      await ledger.run(async (t) => void t.createTable('Item'));

      const acknowledged: string[] = [];
      let afterRestart = 0;
      let failures = 0;
      let restarted = false;
      const deadline = Date.now() + 8_000;
      const writers = Array.from({ length: 8 }, async (_, w) => {
        // Bounded: until the deadline, or once 300 commits succeeded after the restart.
        for (let i = 0; Date.now() < deadline && afterRestart < 300; i++) {
          try {
            const id = await ledger.run((t) => t.insert('Item', ion(`{w: ${w}, i: ${i}}`)), {
              retryLimit: 0,
            });
            acknowledged.push(id);
            if (restarted) afterRestart += 1;
          } catch (error) {
            // Only the retryable errors are expected while the server restarts.
            assert.ok(
              error instanceof StorageUnavailableError || error instanceof OccConflictError,
              `unexpected error: ${String(error)}`,
            );
            failures += 1;
            await sleep(50);
          }
        }
      });
      await sleep(1_500);
      const before = acknowledged.length;
      await cluster.restart();
      restarted = true;
      await Promise.all(writers);

      assert.ok(before > 0, 'commits succeed before the restart');
      assert.ok(afterRestart > 0, 'commits succeed after the restart without reopening the engine');
      const stored = new Set(
        (await settled(() => ledger.run((t) => t.scan('Item')))).map((r) => r.id),
      );
      const lost = acknowledged.filter((id) => !stored.has(id));
      assert.deepEqual(lost, [], 'every acknowledged insert is stored');
      const verified = await settled(() => verifyLedger(ledger));
      assert.equal(verified.tipAddress.sequenceNo, ledger.tipSeq);
      process.stdout.write(
        `# ${acknowledged.length} acknowledged, ${afterRestart} after the restart, ${failures} retryable failures\n`,
      );
    } finally {
      await engine.close();
      await cluster.remove();
      dir.remove();
    }
  });

  test('stopped server gives retryable errors', async () => {
    const cluster = await startCluster(bin!);
    const dir = tempDir();
    const store = await PostgresStore.open({
      url: cluster.url,
      poolSize: 2,
      connectTimeoutMs: 1_000,
    });
    const engine = await Engine.open({ dataDir: dir.path, store });
    try {
      await engine.createLedger('down');
      const ledger = await engine.ledger('down');
      await ledger.run(async (t) => void t.createTable('Item'));
      const id = await ledger.run((t) => t.insert('Item', ion('{n: 1}')));

      await cluster.stop();
      await assert.rejects(
        ledger.run((t) => t.get('Item', id)),
        (error) => {
          assert.ok(error instanceof StorageUnavailableError, String(error));
          assert.equal(error.code, 'CapacityExceededException');
          assert.match(
            error.message,
            /Storage read failed, retry the request: PostgreSQL is unavailable/,
          );
          return true;
        },
      );
      await assert.rejects(
        ledger.run((t) => t.insert('Item', ion('{n: 2}')), { retryLimit: 0 }),
        StorageUnavailableError,
      );
      await assert.rejects(
        PostgresStore.open({ url: cluster.url, connectTimeoutMs: 1_000 }),
        StoreUnavailableError,
      );

      await cluster.start();
      const read = await ledger.run((t) => t.get('Item', id));
      assert.equal(read?.data?.get('n')?.numberValue(), 1);
      await ledger.run((t) => t.insert('Item', ion('{n: 3}')));
      assert.equal((await ledger.run((t) => t.scan('Item'))).length, 2);
    } finally {
      await engine.close();
      await cluster.remove();
      dir.remove();
    }
  });

  test('stores opened at once migrate once', async () => {
    const cluster = await startCluster(bin!);
    try {
      const url = new URL(cluster.url);
      url.pathname = '/fresh';
      const admin = new pg.Client({ connectionString: cluster.url });
      await admin.connect();
      await admin.query('CREATE DATABASE fresh');
      await admin.end();

      const stores = await Promise.all(
        Array.from({ length: 6 }, () => PostgresStore.open({ url: url.toString(), poolSize: 2 })),
      );
      for (const store of stores) {
        assert.equal(await store.schemaVersion(), latestPostgresSchemaVersion);
      }
      const check = new pg.Client({ connectionString: url.toString() });
      await check.connect();
      const rows = (await check.query('SELECT version FROM schema_migrations ORDER BY version'))
        .rows;
      await check.end();
      assert.deepEqual(
        rows,
        postgresMigrations.map(({ version }) => ({ version })),
        'each migration is recorded once',
      );
      await Promise.all(stores.map((store) => store.close()));
    } finally {
      await cluster.remove();
    }
  });
});
