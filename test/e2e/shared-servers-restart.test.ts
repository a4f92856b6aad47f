import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateLedgerCommand,
  DescribeLedgerCommand,
  GetDigestCommand,
  QLDBClient,
} from '@aws-sdk/client-qldb';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import pg from 'pg';
import { tempDir } from '../helpers/backends.js';
import { postgresBinDir, startCluster } from '../helpers/postgres-cluster.js';
import {
  VELLUM_MAIN,
  readProfile,
  startServe,
  type ServeProcess,
} from '../helpers/serve-process.js';

const bin = postgresBinDir();
const skip =
  bin === undefined
    ? 'PostgreSQL server binaries are not installed (apt-get install postgresql)'
    : undefined;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Errors a QLDB client may see while the store restarts: both tell it to retry the transaction. */
const RETRYABLE = new Set(['CapacityExceededException', 'OccConflictException']);
/** Writers per server, each with a driver session of its own. */
const WRITERS = 4;
/** Commits each server must acknowledge before, between and after the outages. */
const PER_PHASE = 40;
/** A call that takes longer than this counts as hung. */
const HANG_MS = 20_000;

interface Failure {
  server: number;
  name: string;
  status?: number;
}

function failureOf(server: number, error: unknown): Failure {
  const failure = error as Error & { $metadata?: { httpStatusCode?: number } };
  return { server, name: failure.name, status: failure.$metadata?.httpStatusCode };
}

/** Reject when `promise` has not settled after `ms`, naming the call in `description`. */
async function within<T>(promise: Promise<T>, ms: number, description: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${description} hung for ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('two servers ride out PostgreSQL restarts', { skip, timeout: 90_000 }, async () => {
  const started = Date.now();
  const cluster = await startCluster(bin!);
  const dir = tempDir();
  const servers: ServeProcess[] = [];
  const drivers: QldbDriver[] = [];
  try {
    // Both servers check ledger keys every 200 ms, so key checks also run
    // into the outages.
    const first = join(dir.path, 'a');
    const second = join(dir.path, 'b');
    const flags = ['--store', cluster.url, '--key-check-interval', '200ms', '--log-level', 'warn'];
    servers.push(await startServe(first, ...flags));
    mkdirSync(second, { recursive: true, mode: 0o700 });
    copyFileSync(join(first, 'root.key'), join(second, 'root.key'));
    servers.push(await startServe(second, ...flags));
    const urls = servers.map((server) => server.url);

    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const credentials = readProfile(first);
    const config = (url: string) => ({
      endpoint: url,
      region: 'us-east-1',
      credentials: { ...credentials },
      maxAttempts: 1,
    });
    const kms = urls.map((url) => new KMSClient(config(url)));
    const qldb = urls.map((url) => new QLDBClient(config(url)));
    const keyId = (await kms[0]!.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    // `load` takes the inserts; `guarded` is sealed with the customer
    // managed key and must stay usable through the outages.
    for (const [name, kmsKey] of [
      ['load', undefined],
      ['guarded', keyId],
    ] as const) {
      await qldb[0]!.send(
        new CreateLedgerCommand({
          Name: name,
          PermissionsMode: 'ALLOW_ALL',
          DeletionProtection: false,
          KmsKey: kmsKey,
        }),
      );
    }

    // The drivers retry every retryable failure themselves. The backoff
    // function receives each one first and records it.
    const retried: Failure[] = [];
    const driverFor = (ledger: string, server: number) =>
      new QldbDriver(
        ledger,
        { ...config(urls[server]!), maxAttempts: undefined },
        {},
        WRITERS + 1,
        new RetryConfig(60, (attempt, error) => {
          retried.push(failureOf(server, error));
          return Math.min(50 * attempt, 250);
        }),
      );
    drivers.push(driverFor('load', 0), driverFor('load', 1));
    await drivers[0]!.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Item');
    });

    // Every key a driver reported committed, and inserts that failed for
    // good. `committed[outages][server]` counts the commits each server
    // acknowledged of inserts started after that many outages.
    const acknowledged: string[] = [];
    const failed: string[] = [];
    const committed = [
      [0, 0],
      [0, 0],
      [0, 0],
    ];
    let outages = 0;
    /** When each outage ended, and when each server acknowledged its first insert started after it. */
    const outageEnded: number[] = [];
    const firstCommit: Array<Array<number | undefined>> = [[], []];
    let stop = false;
    const loadStarted = Date.now();
    const deadline = loadStarted + 40_000;
    const writers = urls.flatMap((_, server) =>
      Array.from({ length: WRITERS }, async (_, writer) => {
        for (let i = 0; !stop && Date.now() < deadline; i++) {
          const key = `${server}-${writer}-${i}`;
          const startedAfter = outages;
          try {
            await within(
              drivers[server]!.executeLambda(async (txn) => {
                await txn.execute('INSERT INTO Item ?', { key, server, writer, i });
              }),
              HANG_MS,
              `an insert through server ${server}`,
            );
          } catch (error) {
            failed.push(`${key}: ${String(error)}`);
            stop = true;
            return;
          }
          acknowledged.push(key);
          committed[startedAfter]![server]! += 1;
          if (startedAfter > 0) firstCommit[startedAfter - 1]![server] ??= Date.now();
        }
      }),
    );

    // KMS requests through both servers meanwhile, one attempt each: they
    // either succeed or fail with a 503 the SDK would retry.
    const kmsFailures: Failure[] = [];
    const kmsAfter = [0, 0];
    const probes = urls.map(async (_, server) => {
      while (!stop && Date.now() < deadline) {
        try {
          await within(
            kms[server]!.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('p') })),
            HANG_MS,
            `a KMS request to server ${server}`,
          );
          if (outages === 2) kmsAfter[server]! += 1;
        } catch (error) {
          kmsFailures.push(failureOf(server, error));
        }
        await sleep(100);
      }
    });

    /** Wait until both servers acknowledged `count` inserts started after the last outage. */
    const progress = async (count: number) => {
      while (committed[outages]!.some((n) => n < count) && !stop && Date.now() < deadline) {
        await sleep(50);
      }
    };
    // Two outages under load: a restart in fast mode, which ends every
    // session with an error, then a stop in immediate mode, a second with
    // the server down, and a start that recovers from the write-ahead log.
    const retriedDuring: Failure[] = [];
    const outage = async (cause: () => Promise<void>) => {
      await progress(PER_PHASE);
      const before = retried.length;
      await cause();
      outageEnded.push(Date.now());
      outages += 1;
      await progress(PER_PHASE);
      retriedDuring.push(...retried.slice(before));
    };
    await outage(() => cluster.restart());
    const health = async (url: string) => {
      const response = await fetch(`${url}/health`);
      return { status: response.status, body: (await response.json()) as Record<string, string> };
    };
    const healthDuring: Array<{ status: number; body: Record<string, string> }> = [];
    await outage(async () => {
      await cluster.stop('immediate');
      // A load balancer that checks health meanwhile sees 503 and sends no traffic.
      for (const url of urls) healthDuring.push(await health(url));
      await sleep(1_000);
      await cluster.start();
    });
    for (const answer of healthDuring) {
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.body.status, 'unavailable');
      assert.match(answer.body.reason!, /PostgreSQL is unavailable/);
    }
    for (const url of urls)
      assert.deepEqual(await health(url), { status: 200, body: { status: 'ok' } });
    stop = true;
    await Promise.all([...writers, ...probes]);
    const loadMs = Date.now() - loadStarted;

    assert.deepEqual(failed, [], 'no insert fails for good or hangs');
    assert.ok(
      committed.every((counts) => counts.every((count) => count >= PER_PHASE)),
      `both servers commit before, between and after the outages: ${JSON.stringify(committed)}`,
    );
    for (const [n, server] of servers.entries()) {
      assert.equal(server.child.exitCode, null, `server ${n} is still running`);
      assert.equal(server.child.signalCode, null, `server ${n} is still running`);
    }
    const unexpected = retried.filter(({ name }) => !RETRYABLE.has(name));
    assert.deepEqual(unexpected, [], 'only retryable errors reach the drivers');
    const unavailable = retriedDuring.filter(({ name }) => name === 'CapacityExceededException');
    for (const server of [0, 1]) {
      assert.ok(
        unavailable.some((failure) => failure.server === server),
        `requests to server ${server} during the outages got CapacityExceededException`,
      );
    }
    assert.deepEqual(
      unavailable.filter(({ status }) => status !== 503),
      [],
      'an unavailable store answers 503',
    );
    assert.deepEqual(
      kmsFailures.filter(
        ({ name, status }) => name !== 'DependencyTimeoutException' || status !== 503,
      ),
      [],
      'KMS requests fail only with 503 DependencyTimeoutException',
    );
    assert.ok(
      kmsAfter.every((count) => count > 0),
      `KMS requests succeed through both servers after the outages: ${kmsAfter.join(', ')}`,
    );

    // Writes through both servers after the outages, on the ledger under
    // load and on the one sealed with the customer managed key, whose key
    // the servers checked during the outages.
    for (const [server, driver] of drivers.entries()) {
      await driver.executeLambda(async (txn) => {
        await txn.execute('INSERT INTO Item ?', { key: `final-${server}`, server });
      });
      acknowledged.push(`final-${server}`);
    }
    for (const server of [0, 1]) {
      const described = await qldb[server]!.send(new DescribeLedgerCommand({ Name: 'guarded' }));
      assert.equal(described.EncryptionDescription?.EncryptionStatus, 'ENABLED');
    }
    const guarded = [driverFor('guarded', 0), driverFor('guarded', 1)];
    drivers.push(...guarded);
    await guarded[0]!.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Note');
      await txn.execute('INSERT INTO Note ?', { text: 'through server 0' });
    });
    await guarded[1]!.executeLambda(async (txn) => {
      await txn.execute('INSERT INTO Note ?', { text: 'through server 1' });
    });
    const notes = await guarded[0]!.executeLambda(async (txn) =>
      (await txn.execute('SELECT VALUE text FROM Note')).getResultList(),
    );
    assert.deepEqual(notes.map((note) => note.stringValue()).sort(), [
      'through server 0',
      'through server 1',
    ]);
    const sealed = await kms[1]!.send(
      new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('after the restarts') }),
    );
    const opened = await kms[0]!.send(
      new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }),
    );
    assert.equal(Buffer.from(opened.Plaintext!).toString(), 'after the restarts');

    // Every acknowledged insert is stored, and both servers read the same documents.
    const stored = await Promise.all(
      drivers
        .slice(0, 2)
        .map((driver) =>
          driver.executeLambda(async (txn) =>
            (await txn.execute('SELECT VALUE key FROM Item'))
              .getResultList()
              .map((value) => value.stringValue()),
          ),
        ),
    );
    assert.deepEqual(
      [...stored[0]!].sort(),
      [...stored[1]!].sort(),
      'both servers see the same documents',
    );
    const keys = new Set(stored[0]);
    const lost = acknowledged.filter((key) => !keys.has(key));
    assert.deepEqual(lost, [], 'every acknowledged insert is stored');
    // A commit that failed in doubt is retried by the driver and may be stored twice.
    const duplicates = stored[0]!.length - keys.size;

    // Both servers report one digest for one tip.
    const digests = await Promise.all(
      qldb.map((client) => client.send(new GetDigestCommand({ Name: 'load' }))),
    );
    assert.equal(digests[0]!.DigestTipAddress?.IonText, digests[1]!.DigestTipAddress?.IonText);
    assert.deepEqual(digests[0]!.Digest, digests[1]!.Digest);

    // The stored journal: gapless sequence numbers, and the whole chain,
    // digest and block tree verify with the standalone verifier.
    const check = new pg.Client({ connectionString: cluster.url });
    await check.connect();
    const numbers = (
      await check.query(
        `SELECT COUNT(*)::integer AS count, MIN(seq)::integer AS min, MAX(seq)::integer AS max
           FROM blocks WHERE ledger = (SELECT no FROM ledgers WHERE name = 'load')`,
      )
    ).rows[0] as { count: number; min: number; max: number };
    await check.end();
    assert.equal(numbers.min, 0);
    assert.equal(numbers.count, numbers.max + 1, 'block sequence numbers have no gap');

    // `vellum verify` checks the shared store while the servers run: data
    // keys are wrapped under KMS keys and open through the store's KMS.
    const verify = spawnSync(
      process.execPath,
      ['--import', 'tsx', VELLUM_MAIN, 'verify', '--data-dir', first, '--store', cluster.url],
      { encoding: 'utf8', env: { ...process.env, VELLUM_STORE: undefined } },
    );
    assert.equal(verify.status, 0, verify.stderr);
    const digest = Buffer.from(digests[0]!.Digest!).toString('base64');
    assert.ok(
      verify.stdout.includes(`digest ${digest} at sequenceNo ${numbers.max}`),
      verify.stdout,
    );
    // Both servers stop cleanly: no connection or lock is left behind that
    // would keep a pool from ending.
    const stopping = Date.now();
    for (const server of servers) server.child.kill('SIGTERM');
    const codes = await within(
      Promise.all(servers.map((server) => server.exited)),
      15_000,
      'stopping the servers',
    );
    assert.deepEqual(codes, [0, 0], 'both servers exit with status 0');
    const stopMs = Date.now() - stopping;

    const recovery = firstCommit
      .map((times, n) => times.map((time) => `${time! - outageEnded[n]!} ms`).join(' and '))
      .join(', ');
    process.stdout.write(
      `# first commits ${recovery} after the server was back; ` +
        `${acknowledged.length} inserts acknowledged (${JSON.stringify(committed)} per phase and server), ` +
        `${unavailable.length} CapacityExceededException and ${retried.length} retries in all, ` +
        `${kmsFailures.length} KMS 503s, ${duplicates} in-doubt duplicates, ${numbers.count} blocks, ` +
        `setup ${loadStarted - started} ms, load ${loadMs} ms, servers stopped in ${stopMs} ms\n`,
    );
  } catch (error) {
    // The servers' warnings and errors explain most failures.
    for (const [n, server] of servers.entries()) {
      process.stderr.write(`server ${n} output:\n${server.output().slice(-20_000)}\n`);
    }
    throw error;
  } finally {
    for (const driver of drivers) driver.close();
    for (const server of servers) {
      if (server.child.exitCode !== null || server.child.signalCode !== null) continue;
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await cluster.remove();
    dir.remove();
  }
});
