import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateKeyCommand,
  DisableKeyCommand,
  KMSClient,
  ListGrantsCommand,
} from '@aws-sdk/client-kms';
import {
  CreateLedgerCommand,
  DescribeLedgerCommand,
  QLDBClient,
  UpdateLedgerCommand,
} from '@aws-sdk/client-qldb';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import { createDatabase, postgresUrl, tempDir } from '../helpers/backends.js';
import {
  readProfile,
  startServerPair,
  stopServers,
  type ServeProcess,
} from '../helpers/serve-process.js';

const skip =
  postgresUrl === undefined
    ? 'VELLUM_TEST_POSTGRES_URL is not set; .ci/run starts a server and sets it'
    : false;

const ROUNDS = 40;

test('key changes alternating between two servers', { skip }, async () => {
  const database = await createDatabase();
  const dir = tempDir();
  const servers: ServeProcess[] = [];
  try {
    // A short guard interval, so that each server's guard runs often while the other changes the key.
    const { first } = await startServerPair(
      dir.path,
      database.url,
      servers,
      '--key-check-interval',
      '20ms',
    );

    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const credentials = readProfile(first);
    const config = (server: ServeProcess) => ({
      endpoint: server.url,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
    const [a, b] = servers as [ServeProcess, ServeProcess];
    const kms = new KMSClient(config(a));
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) {
      keys.push((await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!);
    }
    await new QLDBClient(config(a)).send(
      new CreateLedgerCommand({
        Name: 'rotating',
        PermissionsMode: 'ALLOW_ALL',
        KmsKey: keys[0],
        DeletionProtection: false,
      }),
    );
    const writer = new QldbDriver(
      'rotating',
      { ...config(b), maxAttempts: undefined },
      {},
      4,
      new RetryConfig(20),
    );
    try {
      await writer.executeLambda(async (txn) => {
        await txn.execute('CREATE TABLE Test');
        await txn.execute("INSERT INTO Test VALUE {'id': 0}");
      });

      // Key changes alternate between the servers, each sent before the last
      // one finished. The other server reports each change at once: the
      // new key, UPDATING or already ENABLED, never the key before it.
      let last = keys[0]!;
      for (let round = 1; round <= ROUNDS; round++) {
        last = keys[round % keys.length]!;
        const [server, other] = round % 2 === 0 ? [a, b] : [b, a];
        await new QLDBClient(config(server)).send(
          new UpdateLedgerCommand({ Name: 'rotating', KmsKey: last }),
        );
        const seen = await new QLDBClient(config(other)).send(
          new DescribeLedgerCommand({ Name: 'rotating' }),
        );
        assert.equal(seen.EncryptionDescription?.KmsKeyArn, last, `round ${round}`);
      }
      let inserted = 1;
      for (; inserted <= 5; inserted++) {
        await writer.executeLambda((txn) => txn.execute('INSERT INTO Test ?', { id: inserted }));
      }

      const settled = async (server: ServeProcess) => {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const described = await new QLDBClient(config(server)).send(
            new DescribeLedgerCommand({ Name: 'rotating' }),
          );
          const encryption = described.EncryptionDescription;
          if (encryption?.EncryptionStatus === 'ENABLED') return encryption.KmsKeyArn;
          assert.ok(
            Date.now() < deadline,
            `server ${server.url} is still ${encryption?.EncryptionStatus}`,
          );
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      for (const server of servers) {
        assert.equal(await settled(server), last, `server ${server.url} reports the last key`);
      }

      // The first ENABLED either server reports is the last key: no server
      // finished an older change over a newer one, and none reports a
      // configuration older than the store's.
      // Only the last key is needed now: with the others disabled, the ledger still serves on both.
      for (const key of keys) {
        if (key !== last) await kms.send(new DisableKeyCommand({ KeyId: key }));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const server of servers) {
        const described = await new QLDBClient(config(server)).send(
          new DescribeLedgerCommand({ Name: 'rotating' }),
        );
        assert.equal(described.EncryptionDescription?.EncryptionStatus, 'ENABLED');
        assert.equal(described.EncryptionDescription?.KmsKeyArn, last);
        const reader = new QldbDriver(
          'rotating',
          { ...config(server), maxAttempts: undefined },
          {},
          2,
          new RetryConfig(0),
        );
        try {
          const count = await reader.executeLambda(
            async (txn) => (await txn.execute('SELECT * FROM Test')).getResultList().length,
          );
          assert.equal(count, inserted);
        } finally {
          reader.close();
        }
      }

      // The grants on the earlier keys are retired a few guard intervals
      // after the changes finished; the ledger keeps one, on the last key.
      const grants = async () =>
        Promise.all(
          keys.map(async (key) => (await kms.send(new ListGrantsCommand({ KeyId: key }))).Grants!),
        );
      const deadline = Date.now() + 10_000;
      let grantsByKey = await grants();
      while (grantsByKey.some((list, i) => list.length !== (keys[i] === last ? 1 : 0))) {
        assert.ok(
          Date.now() < deadline,
          `grants per key: ${grantsByKey.map((list) => list.length).join(', ')}`,
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        grantsByKey = await grants();
      }
      assert.match(
        grantsByKey[keys.indexOf(last)]![0]!.Name!,
        /^vellum-ledger-rotating-[0-9a-f]{8}$/,
      );
    } finally {
      writer.close();
    }
  } finally {
    await stopServers(servers);
    await database.drop();
    dir.remove();
  }
});
