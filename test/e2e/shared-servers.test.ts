import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient,
  ListKeysCommand,
} from '@aws-sdk/client-kms';
import {
  CreateLedgerCommand,
  DescribeLedgerCommand,
  GetBlockCommand,
  GetDigestCommand,
  QLDBClient,
} from '@aws-sdk/client-qldb';
import { load } from 'ion-js';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import { createDatabase, postgresUrl, tempDir } from '../helpers/backends.js';
import {
  readProfile,
  startServe,
  startServerPair,
  stopServers,
  type ServeProcess,
} from '../helpers/serve-process.js';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';

const skip =
  postgresUrl === undefined
    ? 'VELLUM_TEST_POSTGRES_URL is not set; .ci/run starts a server and sets it'
    : false;

test('two vellum serve processes share one PostgreSQL store', { skip }, async () => {
  const database = await createDatabase();
  const dir = tempDir();
  const servers: ServeProcess[] = [];
  try {
    const { first, second } = await startServerPair(
      dir.path,
      database.url,
      servers,
      '--key-check-interval',
      '200ms',
    );

    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const credentials = readProfile(first);
    assert.deepEqual(readProfile(second), credentials);
    const config = (url: string) => ({
      endpoint: url,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
    const [a, b] = servers.map((server) => server.url) as [string, string];

    const keyId = (await new KMSClient(config(a)).send(new CreateKeyCommand({}))).KeyMetadata!
      .KeyId!;
    await new QLDBClient(config(b)).send(
      new CreateLedgerCommand({
        Name: 'shared',
        PermissionsMode: 'ALLOW_ALL',
        KmsKey: keyId,
        DeletionProtection: false,
      }),
    );
    const drivers = [a, b].map(
      (url) =>
        new QldbDriver(
          'shared',
          { ...config(url), maxAttempts: undefined },
          {},
          16,
          new RetryConfig(20),
        ),
    ) as [QldbDriver, QldbDriver];
    try {
      await drivers[0].executeLambda(async (txn) => {
        await txn.execute('CREATE TABLE Counter');
        await txn.execute("INSERT INTO Counter VALUE {'name': 'c', 'total': 0}");
      });
      // Concurrent increments through both servers: OCC sees commits from either.
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          drivers[i % 2]!.executeLambda(async (txn) => {
            const [total] = (
              await txn.execute("SELECT VALUE total FROM Counter WHERE name = 'c'")
            ).getResultList();
            await txn.execute(
              "UPDATE Counter SET total = ? WHERE name = 'c'",
              total!.numberValue()! + 1,
            );
          }),
        ),
      );
      for (const driver of drivers) {
        const [total] = await driver.executeLambda(async (txn) =>
          (await txn.execute("SELECT VALUE total FROM Counter WHERE name = 'c'")).getResultList(),
        );
        assert.equal(total!.numberValue(), 20);
      }

      // A key disabled through one server makes the ledger inaccessible on both.
      await new KMSClient(config(a)).send(new DisableKeyCommand({ KeyId: keyId }));
      for (const url of [a, b]) {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const described = await new QLDBClient(config(url)).send(
            new DescribeLedgerCommand({ Name: 'shared' }),
          );
          if (described.EncryptionDescription?.EncryptionStatus === 'KMS_KEY_INACCESSIBLE') break;
          assert.ok(Date.now() < deadline, `server ${url} did not see the disabled key`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      await new KMSClient(config(b)).send(new EnableKeyCommand({ KeyId: keyId }));
      for (const driver of drivers) {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const ok = await driver
            .executeLambda(
              async (txn) => (await txn.execute('SELECT * FROM Counter')).getResultList().length,
            )
            .catch(() => 0);
          if (ok === 1) break;
          assert.ok(Date.now() < deadline, 'a server did not recover after the key was enabled');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } finally {
      for (const driver of drivers) driver.close();
    }
  } finally {
    await stopServers(servers);
    await database.drop();
    dir.remove();
  }
});

test('servers starting at once share one Vellum-owned key', { skip }, async () => {
  const database = await createDatabase();
  const dir = tempDir();
  const servers: ServeProcess[] = [];
  try {
    // Both data directories contain the same root key before either server starts.
    const dirs = [join(dir.path, 'a'), join(dir.path, 'b')];
    for (const dataDir of dirs) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dirs[0]!, 'root.key'), randomBytes(32), { mode: 0o600 });
    copyFileSync(join(dirs[0]!, 'root.key'), join(dirs[1]!, 'root.key'));
    const started = await Promise.allSettled(
      dirs.map((dataDir) => startServe(dataDir, '--store', database.url)),
    );
    for (const result of started) if (result.status === 'fulfilled') servers.push(result.value);
    for (const result of started) if (result.status === 'rejected') throw result.reason;

    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const credentials = readProfile(dirs[0]!);
    assert.deepEqual(readProfile(dirs[1]!), credentials, 'one root user for both servers');
    const config = (server: ServeProcess) => ({
      endpoint: server.url,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
    const [a, b] = servers as [ServeProcess, ServeProcess];

    await new QLDBClient(config(a)).send(
      new CreateLedgerCommand({ Name: 'owned', PermissionsMode: 'ALLOW_ALL' }),
    );
    const driver = (server: ServeProcess) =>
      new QldbDriver(
        'owned',
        { ...config(server), maxAttempts: undefined },
        {},
        4,
        new RetryConfig(0),
      );
    const writer = driver(a);
    const reader = driver(b);
    try {
      await writer.executeLambda(async (txn) => {
        await txn.execute('CREATE TABLE Test');
        await txn.execute("INSERT INTO Test VALUE {'id': 1}");
      });
      const found = await reader.executeLambda(
        async (txn) => (await txn.execute('SELECT * FROM Test')).getResultList().length,
      );
      assert.equal(found, 1, 'the second server opens the data key the first one made');
    } finally {
      writer.close();
      reader.close();
    }
    for (const server of servers) {
      const described = await new QLDBClient(config(server)).send(
        new DescribeLedgerCommand({ Name: 'owned' }),
      );
      assert.equal(described.EncryptionDescription, undefined);
      const keys = await new KMSClient(config(server)).send(new ListKeysCommand({}));
      assert.deepEqual(keys.Keys, [], 'the owned key is not the account key');
    }
    const store = await PostgresStore.open({ url: database.url, poolSize: 2 });
    try {
      assert.equal((await store.listState('kms.owned')).length, 1, 'one owned key was created');
    } finally {
      await store.close();
    }
  } finally {
    await stopServers(servers);
    await database.drop();
    dir.remove();
  }
});

test('operator mistakes with a shared store are refused with the fix', { skip }, async () => {
  const database = await createDatabase();
  const dir = tempDir();
  const servers: ServeProcess[] = [];
  const startError = async (dataDir: string, ...extra: string[]) => {
    const started = await startServe(dataDir, ...extra).then(
      (server) => {
        servers.push(server);
        return undefined;
      },
      (error: unknown) => String(error),
    );
    assert.ok(started !== undefined, `vellum serve started in ${dataDir}`);
    return started;
  };
  try {
    const first = join(dir.path, 'first');
    servers.push(await startServe(first, '--store', database.url));
    const health = await fetch(`${servers[0]!.url}/health`);
    assert.deepEqual([health.status, await health.json()], [200, { status: 'ok' }]);

    // A new server without the root key the store's state is sealed under.
    const empty = join(dir.path, 'empty');
    assert.match(
      await startError(empty, '--store', database.url),
      /root key file .*empty\/root\.key is missing, and the store postgres:\/\/.* already holds state sealed under the root key of the servers that use it\. Copy root\.key from the data directory/,
    );
    assert.ok(!existsSync(join(empty, 'root.key')), 'no root key was made for the refused start');

    // A server with a root key of its own.
    const stranger = join(dir.path, 'stranger');
    mkdirSync(stranger, { mode: 0o700 });
    writeFileSync(join(stranger, 'root.key'), randomBytes(32), { mode: 0o600 });
    assert.match(
      await startError(stranger, '--store', database.url),
      /root key does not match .* copy root\.key from the data directory of a server that already uses it/,
    );

    // A second process on a data directory that a running server uses.
    assert.match(
      await startError(first, '--store', database.url),
      /data directory .*first is in use by process \d+/,
    );

    // A store URL with a typo in its scheme.
    assert.match(
      await startError(join(dir.path, 'typo'), '--store', 'postgres:/vellum@127.0.0.1/vellum'),
      /store "postgres:\/vellum@127\.0\.0\.1\/vellum" is not a PostgreSQL URL: write it as postgres:\/\/USER@HOST:PORT\/DATABASE/,
    );
  } finally {
    await stopServers(servers);
    await database.drop();
    dir.remove();
  }
});

test('racing redactions across servers commit once', { skip }, async () => {
  const database = await createDatabase();
  const dir = tempDir();
  const servers: ServeProcess[] = [];
  try {
    const { first } = await startServerPair(dir.path, database.url, servers);
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const config = (url: string) => ({
      endpoint: url,
      region: 'us-east-1',
      credentials: readProfile(first),
    });
    const [a, b] = servers.map((server) => server.url) as [string, string];
    await new QLDBClient({ ...config(a), maxAttempts: 1 }).send(
      new CreateLedgerCommand({
        Name: 'redact',
        PermissionsMode: 'ALLOW_ALL',
        DeletionProtection: false,
      }),
    );
    // The drivers do not retry, so each transaction's own outcome is reported.
    const drivers = [a, b].map(
      (url) => new QldbDriver('redact', config(url), {}, 4, new RetryConfig(0)),
    ) as [QldbDriver, QldbDriver];
    try {
      const tableId = await drivers[0].executeLambda(async (txn) => {
        const [table] = (await txn.execute('CREATE TABLE People')).getResultList();
        return table!.get('tableId')!.stringValue()!;
      });
      const docId = await drivers[0].executeLambda(async (txn) => {
        const [inserted] = (
          await txn.execute('INSERT INTO People ?', { ssn: '123-45-6789' })
        ).getResultList();
        return inserted!.get('documentId')!.stringValue()!;
      });
      await drivers[0].executeLambda((txn) => txn.execute("UPDATE People SET ssn = 'removed'"));
      const [address] = await drivers[1].executeLambda(async (txn) =>
        (
          await txn.execute(
            'SELECT VALUE h.blockAddress FROM history(People) AS h WHERE h.metadata.version = 0',
          )
        ).getResultList(),
      );

      // Each server checks the revision before either commits its redaction.
      let checked = 0;
      let bothChecked!: () => void;
      const barrier = new Promise<void>((resolve) => (bothChecked = resolve));
      const outcomes = await Promise.allSettled(
        drivers.map((driver) =>
          driver.executeLambda(async (txn) => {
            await txn.execute('EXEC redact_revision ?, ?, ?', address, tableId, docId);
            if (++checked === 2) bothChecked();
            await barrier;
          }),
        ),
      );
      assert.equal(
        outcomes.filter((outcome) => outcome.status === 'fulfilled').length,
        1,
        'exactly one redaction commits',
      );
      const loser = outcomes.findIndex((outcome) => outcome.status === 'rejected');
      const reason = (outcomes[loser] as PromiseRejectedResult).reason as Error;
      assert.equal(reason.name, 'OccConflictException', reason.message);

      // Sent again, it is rejected because the revision is already redacted.
      await assert.rejects(
        drivers[loser]!.executeLambda((txn) =>
          txn.execute('EXEC redact_revision ?, ?, ?', address, tableId, docId),
        ),
        /Revision 0 of document \S+ is already redacted/,
      );
      const history = await drivers[loser]!.executeLambda(async (txn) =>
        (await txn.execute('SELECT * FROM history(People)')).getResultList(),
      );
      assert.equal(history[0]!.get('data'), null);
      assert.notEqual(history[0]!.get('dataHash'), null);
    } finally {
      for (const driver of drivers) driver.close();
    }

    // The journal contains one block that redacts the revision.
    const qldb = new QLDBClient({ ...config(b), maxAttempts: 1 });
    const tip = load(
      (await qldb.send(new GetDigestCommand({ Name: 'redact' }))).DigestTipAddress!.IonText!,
    )!;
    let redacting = 0;
    for (let seq = 0; seq <= tip.get('sequenceNo')!.numberValue()!; seq++) {
      const { Block } = await qldb.send(
        new GetBlockCommand({
          Name: 'redact',
          BlockAddress: {
            IonText: `{strandId: "${tip.get('strandId')!.stringValue()}", sequenceNo: ${seq}}`,
          },
        }),
      );
      if (load(Block!.IonText!)!.get('redactionInfo') !== null) redacting += 1;
    }
    assert.equal(redacting, 1, 'the journal records the redaction once');
  } finally {
    await stopServers(servers);
    await database.drop();
    dir.remove();
  }
});
