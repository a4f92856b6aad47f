import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient,
  PutKeyPolicyCommand,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import {
  CreateLedgerCommand,
  DescribeLedgerCommand,
  QLDBClient,
  UpdateLedgerCommand,
  type LedgerEncryptionDescription,
} from '@aws-sdk/client-qldb';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import { Engine } from '../../src/engine/index.js';
import { loadOrCreateRootKey, RootKeyProvider } from '../../src/engine/keyring/root-key-file.js';
import { offlineKeyProvider } from '../../src/services/qldb/offline-keys.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { tempDir } from '../helpers/backends.js';
import { referenceKeyPolicy } from '../helpers/reference-stack.js';
import {
  readProfile,
  startServe,
  VELLUM_MAIN,
  type ServeProcess,
} from '../helpers/serve-process.js';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const KMS_WRAPPED = 0x4b;
const KEY_POLICY = referenceKeyPolicy({ account: ACCOUNT, region: REGION });

/** The reference key policy with a Deny on wrapping through QLDB, which no grant overrides. */
const NO_WRAPPING_POLICY = (() => {
  const policy = JSON.parse(KEY_POLICY) as { Statement: unknown[] };
  policy.Statement.push({
    Sid: 'Deny wrapping ledger data keys',
    Effect: 'Deny',
    Principal: { AWS: '*' },
    Action: 'kms:Encrypt',
    Resource: '*',
    Condition: { StringEquals: { 'kms:ViaService': `qldb.${REGION}.amazonaws.com` } },
  });
  return JSON.stringify(policy);
})();

const running = new Set<ServeProcess>();

interface Served {
  server: ServeProcess;
  kms: KMSClient;
  qldb: QLDBClient;
  /** A driver that does not retry, so that any failed session surfaces. */
  driver(ledger: string): QldbDriver;
}

/** Start `vellum serve` on `dataDir` with the AWS clients of its profile. */
async function serve(dataDir: string, checkInterval: string, ...extra: string[]): Promise<Served> {
  const server = await startServe(dataDir, '--key-check-interval', checkInterval, ...extra);
  running.add(server);
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  const config = {
    endpoint: server.url,
    region: REGION,
    credentials: readProfile(dataDir),
    maxAttempts: 1,
  };
  return {
    server,
    kms: new KMSClient(config),
    qldb: new QLDBClient(config),
    driver: (ledger) =>
      new QldbDriver(ledger, { ...config, maxAttempts: undefined }, {}, 4, new RetryConfig(0)),
  };
}

async function stop(server: ServeProcess, signal: NodeJS.Signals): Promise<void> {
  server.child.kill(signal);
  await server.exited;
  running.delete(server);
}

async function stopAll(): Promise<void> {
  for (const server of [...running]) await stop(server, 'SIGKILL');
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function encryption(
  served: Served,
  ledger: string,
): Promise<LedgerEncryptionDescription | undefined> {
  return (await served.qldb.send(new DescribeLedgerCommand({ Name: ledger })))
    .EncryptionDescription;
}

/** Wait until the server logs that the key change of `ledger` failed. */
function changeFailed(served: Served, ledger: string): Promise<void> {
  const pattern = new RegExp(`"ledger":"${ledger}".*"msg":"ledger key change failed`);
  return waitFor(`the key change of ${ledger} fails`, () => pattern.test(served.server.output()));
}

/** Create table Test and `count` documents in it. */
async function fill(served: Served, ledger: string, count: number, note: string): Promise<void> {
  const driver = served.driver(ledger);
  try {
    await driver.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Test');
      for (let id = 0; id < count; id += 1) await txn.execute('INSERT INTO Test ?', { id, note });
    });
  } finally {
    driver.close();
  }
}

async function countDocuments(served: Served, ledger: string): Promise<number> {
  const driver = served.driver(ledger);
  try {
    return await driver.executeLambda(
      async (txn) => (await txn.execute('SELECT * FROM Test')).getResultList().length,
    );
  } finally {
    driver.close();
  }
}

/** Read a ledger's wrapped data key from the SQLite store; the server must be stopped. */
async function storedWrapping(dataDir: string, ledger: string): Promise<Uint8Array> {
  const store = SqliteStore.open({ path: join(dataDir, 'vellum.db') });
  try {
    const record = await store.getLedger(ledger);
    assert.ok(record, `ledger ${ledger} is in the store`);
    return record.wrappedKey;
  } finally {
    await store.close();
  }
}

/** Return the key id in a KMS-wrapped data key: the blob's header after the format byte. */
function wrappingKeyId(wrapped: Uint8Array): string {
  assert.equal(wrapped[0], KMS_WRAPPED, 'the data key is wrapped by a KMS key');
  return Buffer.from(wrapped.subarray(3, 3 + wrapped[2]!)).toString('ascii');
}

function vellum(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', VELLUM_MAIN, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('key changes pending at SIGKILL finish at the next start', { timeout: 240_000 }, async () => {
  const dir = tempDir('vellum-restart-');
  try {
    // The guard retries a failed change only after an hour, so only a start finishes one.
    let served = await serve(dir.path, '1h');
    const first = (await served.kms.send(new CreateKeyCommand({ Policy: KEY_POLICY })))
      .KeyMetadata!;
    const second = (await served.kms.send(new CreateKeyCommand({ Policy: NO_WRAPPING_POLICY })))
      .KeyMetadata!;
    await served.kms.send(
      new CreateAliasCommand({ AliasName: 'alias/restart', TargetKeyId: first.KeyId }),
    );
    for (const [ledger, kmsKey] of [
      ['direct', first.KeyId!],
      ['follower', 'alias/restart'],
    ] as const) {
      await served.qldb.send(
        new CreateLedgerCommand({
          Name: ledger,
          PermissionsMode: 'ALLOW_ALL',
          KmsKey: kmsKey,
          DeletionProtection: false,
        }),
      );
      await fill(served, ledger, 20, ledger);
    }

    // UpdateLedger starts a change that cannot wrap under the second key; the alias moves too.
    const updated = await served.qldb.send(
      new UpdateLedgerCommand({ Name: 'direct', KmsKey: second.KeyId }),
    );
    assert.equal(updated.EncryptionDescription?.KmsKeyArn, second.Arn);
    assert.equal(updated.EncryptionDescription?.EncryptionStatus, 'UPDATING');
    await served.kms.send(
      new UpdateAliasCommand({ AliasName: 'alias/restart', TargetKeyId: second.KeyId }),
    );
    await changeFailed(served, 'direct');
    assert.equal((await encryption(served, 'direct'))?.EncryptionStatus, 'UPDATING');
    await stop(served.server, 'SIGKILL');

    // The next start resumes the change and follows the alias; both stay pending.
    served = await serve(dir.path, '1h');
    for (const ledger of ['direct', 'follower']) {
      await changeFailed(served, ledger);
      const pending = await encryption(served, ledger);
      assert.equal(pending?.KmsKeyArn, second.Arn, ledger);
      assert.equal(pending?.EncryptionStatus, 'UPDATING', ledger);
      assert.equal(await countDocuments(served, ledger), 20, `${ledger} serves while UPDATING`);
    }
    // The key becomes usable, but this server would retry only in an hour.
    await served.kms.send(
      new PutKeyPolicyCommand({ KeyId: second.KeyId, PolicyName: 'default', Policy: KEY_POLICY }),
    );
    for (const ledger of ['direct', 'follower']) {
      assert.equal((await encryption(served, ledger))?.EncryptionStatus, 'UPDATING', ledger);
    }
    await stop(served.server, 'SIGKILL');

    // The third start finishes both changes, and sessions run without a failure.
    served = await serve(dir.path, '1h');
    for (const ledger of ['direct', 'follower']) {
      await waitFor(`${ledger} is ENABLED under the second key`, async () => {
        const description = await encryption(served, ledger);
        return description?.EncryptionStatus === 'ENABLED' && description.KmsKeyArn === second.Arn;
      });
      const driver = served.driver(ledger);
      try {
        await driver.executeLambda(async (txn) => {
          for (let id = 20; id < 25; id += 1) await txn.execute('INSERT INTO Test ?', { id });
        });
      } finally {
        driver.close();
      }
      assert.equal(await countDocuments(served, ledger), 25, ledger);
    }
    await stop(served.server, 'SIGTERM');

    // The stored data keys are wrapped by the second key.
    for (const ledger of ['direct', 'follower']) {
      assert.equal(wrappingKeyId(await storedWrapping(dir.path, ledger)), second.KeyId, ledger);
    }
    // Offline, vellum verify opens them through the KMS with each ledger's grant.
    const verified = vellum('verify', '--data-dir', dir.path);
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout, /ledger direct: \d+ blocks/);
    assert.match(verified.stdout, /ledger follower: \d+ blocks/);
  } finally {
    await stopAll();
    dir.remove();
  }
});

test('inaccessible keys survive restarts, deleted keys shred', { timeout: 240_000 }, async () => {
  const dir = tempDir('vellum-shred-');
  const marker = `marker-${randomBytes(8).toString('hex')}`;
  const options = ['--kms-day-length', '200ms'];
  try {
    let served = await serve(dir.path, '200ms', ...options);
    const key = (await served.kms.send(new CreateKeyCommand({ Policy: KEY_POLICY }))).KeyMetadata!;
    await served.qldb.send(
      new CreateLedgerCommand({ Name: 'guarded', PermissionsMode: 'ALLOW_ALL', KmsKey: key.KeyId }),
    );
    await served.qldb.send(
      new CreateLedgerCommand({ Name: 'owned', PermissionsMode: 'ALLOW_ALL' }),
    );
    await fill(served, 'guarded', 10, marker);
    await fill(served, 'owned', 10, marker);

    await served.kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await waitFor('the guard marks the ledger', async () => {
      return (await encryption(served, 'guarded'))?.EncryptionStatus === 'KMS_KEY_INACCESSIBLE';
    });
    const since = (await encryption(served, 'guarded'))?.InaccessibleKmsKeyDateTime;
    assert.ok(since instanceof Date);
    await stop(served.server, 'SIGKILL');

    // After a restart the ledger is still inaccessible, from the same time, and rejects sessions.
    served = await serve(dir.path, '200ms', ...options);
    let description = await encryption(served, 'guarded');
    assert.equal(description?.EncryptionStatus, 'KMS_KEY_INACCESSIBLE');
    assert.equal(description?.InaccessibleKmsKeyDateTime?.getTime(), since.getTime());
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal((await encryption(served, 'guarded'))?.EncryptionStatus, 'KMS_KEY_INACCESSIBLE');
    await assert.rejects(countDocuments(served, 'guarded'), /does not have grant access/);
    assert.equal(await countDocuments(served, 'owned'), 10);

    await served.kms.send(new EnableKeyCommand({ KeyId: key.KeyId }));
    await waitFor('the ledger recovers', async () => {
      return (await encryption(served, 'guarded'))?.EncryptionStatus === 'ENABLED';
    });
    assert.equal(await countDocuments(served, 'guarded'), 10);

    // Deleting the key: the ledger turns inaccessible and the key is gone for good.
    await served.kms.send(
      new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }),
    );
    await waitFor('the key is deleted', async () =>
      served.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId })).then(
        () => false,
        (error: Error) => error.name === 'NotFoundException',
      ),
    );
    description = await encryption(served, 'guarded');
    assert.equal(description?.EncryptionStatus, 'KMS_KEY_INACCESSIBLE');
    await stop(served.server, 'SIGTERM');

    // With the server stopped, read the store directly with the root key.
    for (const file of ['vellum.db', 'vellum.db-wal']) {
      const path = join(dir.path, file);
      if (existsSync(path)) {
        assert.ok(!readFileSync(path).includes(marker), `${file} holds no document in the clear`);
      }
    }
    const rootKey = loadOrCreateRootKey(dir.path, false);
    // The provider reads the engine's store only once the engine is open.
    const keyProvider = offlineKeyProvider(rootKey, () => engine.store);
    const engine = await Engine.open({ dataDir: dir.path, keyProvider, createRootKey: false });
    try {
      // The ledger under the Vellum-owned key reads back, which shows the reader works.
      const owned = await (await engine.ledger('owned')).run(async (tx) => tx.scan('Test'));
      assert.equal(owned.length, 10);
      assert.equal(String(owned[0]!.data?.get('note')), marker);

      // The ledger under the deleted key yields nothing, with the KMS or the root key alone.
      await assert.rejects(
        engine.ledger('guarded'),
        /cannot unwrap the data key of ledger guarded/,
      );
      const { id, wrappedKey } = await engine.ledgerKeyRecord('guarded');
      assert.equal(wrappingKeyId(wrappedKey), key.KeyId);
      await assert.rejects(new RootKeyProvider(rootKey).unwrap(id, wrappedKey));
      const stored = await engine.store.listState('kms.key');
      assert.ok(!stored.some((record) => record.key === key.KeyId), 'the key record is gone');
    } finally {
      keyProvider.close();
      await engine.close();
    }

    const verified = vellum('verify', '--data-dir', dir.path);
    assert.equal(verified.status, 2, verified.stderr);
    assert.match(verified.stdout, /ledger owned: \d+ blocks/);
    assert.match(
      verified.stderr,
      /ledger guarded could not be checked: cannot unwrap the data key/,
    );
  } finally {
    await stopAll();
    dir.remove();
  }
});

test('vellum verify leaves a key that is due for deletion', { timeout: 120_000 }, async () => {
  const dir = tempDir('vellum-verify-due-');
  const storedKeyIds = async (): Promise<string[]> => {
    const rootKey = loadOrCreateRootKey(dir.path, false);
    const keyProvider = offlineKeyProvider(rootKey, () => engine.store);
    const engine = await Engine.open({ dataDir: dir.path, keyProvider, createRootKey: false });
    try {
      return (await engine.store.listState('kms.key')).map((record) => record.key);
    } finally {
      keyProvider.close();
      await engine.close();
    }
  };
  try {
    const served = await serve(dir.path, '10s', '--kms-day-length', '1s');
    const key = (await served.kms.send(new CreateKeyCommand({ Policy: KEY_POLICY }))).KeyMetadata!;
    await served.qldb.send(
      new CreateLedgerCommand({ Name: 'guarded', PermissionsMode: 'ALLOW_ALL', KmsKey: key.KeyId }),
    );
    await fill(served, 'guarded', 3, 'due');
    // Seven KMS days of a second each: the deletion falls due after the server stops.
    const { DeletionDate } = await served.kms.send(
      new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }),
    );
    await stop(served.server, 'SIGTERM');
    assert.ok((await storedKeyIds()).includes(key.KeyId!), 'the server stopped before the date');
    await new Promise((resolve) => setTimeout(resolve, DeletionDate!.getTime() - Date.now() + 500));

    const verified = vellum('verify', '--data-dir', dir.path);
    assert.equal(verified.status, 2, verified.stderr);
    assert.match(verified.stderr, /ledger guarded could not be checked/);
    // Checking the data directory deleted no key; only a server does that.
    assert.ok((await storedKeyIds()).includes(key.KeyId!), 'the key is still pending deletion');
  } finally {
    await stopAll();
    dir.remove();
  }
});

test('an upgraded data directory leaves the root key file', { timeout: 240_000 }, async () => {
  const dir = tempDir('vellum-upgrade-');
  try {
    // The embedded engine wraps data keys with the root key file, as servers did before.
    const demo = vellum('demo', '--engine-only', '--records', '5', '--data-dir', dir.path);
    assert.equal(demo.status, 0, demo.stderr);
    const ledger = /created ledger (\S+)/.exec(demo.stdout)?.[1];
    assert.ok(ledger, demo.stdout);
    assert.equal((await storedWrapping(dir.path, ledger))[0], 1, 'wrapped by the root key file');

    // The start moves the data key under the Vellum-owned key before the ledger is opened.
    let served = await serve(dir.path, '10s');
    assert.equal(await encryption(served, ledger), undefined);
    await stop(served.server, 'SIGTERM');
    const wrapped = await storedWrapping(dir.path, ledger);
    assert.equal(wrapped[0], KMS_WRAPPED, 'wrapped by the Vellum-owned key');

    served = await serve(dir.path, '10s');
    assert.equal(await countDocuments(served, ledger), 5);
    await stop(served.server, 'SIGTERM');
    assert.deepEqual(await storedWrapping(dir.path, ledger), wrapped);

    const verified = vellum('verify', '--data-dir', dir.path);
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout, new RegExp(`ledger ${ledger}: \\d+ blocks`));
  } finally {
    await stopAll();
    dir.remove();
  }
});
