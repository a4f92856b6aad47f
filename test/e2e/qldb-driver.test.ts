import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateLedgerCommand,
  DeleteLedgerCommand,
  DescribeLedgerCommand,
  GetDigestCommand,
  ListLedgersCommand,
  QLDBClient,
  ResourceNotFoundException,
  UpdateLedgerCommand,
} from '@aws-sdk/client-qldb';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import { dom } from 'ion-js';
import {
  clientConfig,
  startVellumInstance,
  type VellumInstance,
} from '../helpers/vellum-instance.js';

describe('official QLDB driver and SDK against vellum serve', () => {
  let vellum: VellumInstance;
  let driver: QldbDriver;
  let qldb: QLDBClient;

  before(async () => {
    vellum = await startVellumInstance();
    const config = clientConfig(vellum.url, vellum.rootCredentials);
    qldb = new QLDBClient(config);
    await qldb.send(
      new CreateLedgerCommand({
        Name: 'driver-test',
        PermissionsMode: 'ALLOW_ALL',
        DeletionProtection: false,
      }),
    );
    driver = new QldbDriver(
      'driver-test',
      { ...config, maxAttempts: undefined },
      {},
      10,
      new RetryConfig(4),
    );
  });
  after(async () => {
    driver?.close();
    await vellum.dispose();
  });

  test('runs DDL, DML, history and committed views through executeLambda', async () => {
    await driver.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE People');
      await txn.execute('CREATE INDEX ON People (id)');
    });
    assert.deepEqual(await driver.getTableNames(), ['People']);

    const [inserted] = await driver.executeLambda(async (txn) =>
      (
        await txn.execute('INSERT INTO People ?', { id: 1, name: 'Ada', tags: ['math'] })
      ).getResultList(),
    );
    const documentId = inserted!.get('documentId')!.stringValue()!;
    assert.equal(documentId.length, 22);

    await driver.executeLambda(async (txn) => {
      await txn.execute("UPDATE People AS p SET p.name = 'Ada L.' WHERE p.id = ?", 1);
      await txn.execute('FROM People AS p WHERE p.id = ? INSERT INTO p.tags VALUE ?', 1, 'poetry');
    });
    const person = await driver.executeLambda(async (txn) =>
      (await txn.execute('SELECT * FROM People WHERE id = ?', 1)).getResultList(),
    );
    assert.equal(person.length, 1);
    assert.equal(person[0]!.get('name')!.stringValue(), 'Ada L.');
    assert.deepEqual(
      person[0]!
        .get('tags')!
        .elements()
        .map((t) => t.stringValue()),
      ['math', 'poetry'],
    );

    const committed = await driver.executeLambda(async (txn) =>
      (
        await txn.execute(
          'SELECT c.metadata.version AS v FROM _ql_committed_People AS c WHERE c.data.id = 1',
        )
      ).getResultList(),
    );
    // Both statements changed one document in one transaction: one new revision.
    assert.equal(committed[0]!.get('v')!.numberValue(), 1);

    await driver.executeLambda(async (txn) => txn.execute('DELETE FROM People WHERE id = ?', 1));
    const history = await driver.executeLambda(async (txn) =>
      (
        await txn.execute(
          'SELECT h.metadata.version AS v FROM history(People) AS h WHERE h.metadata.id = ?',
          documentId,
        )
      ).getResultList(),
    );
    assert.deepEqual(history.map((h) => h.get('v')!.numberValue()).sort(), [0, 1, 2]);
  });

  test('pages 1,000 documents and counts read IOs', async () => {
    await driver.executeLambda(async (txn) => txn.execute('CREATE TABLE Many'));
    for (let start = 0; start < 1000; start += 40) {
      const batch = Array.from({ length: 40 }, (_, i) => ({ n: start + i }));
      await driver.executeLambda(async (txn) => txn.execute('INSERT INTO Many ?', batch));
    }
    const { count, reads } = await driver.executeLambda(async (txn) => {
      const result = await txn.execute('SELECT VALUE n FROM Many');
      return { count: result.getResultList().length, reads: result.getConsumedIOs()?.getReadIOs() };
    });
    assert.equal(count, 1000);
    assert.equal(reads, 1000);
  });

  test('keeps an OCC counter exact under 32 concurrent increments', async () => {
    await driver.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Counter');
      await txn.execute("INSERT INTO Counter VALUE {'name': 'c', 'total': 0}");
    });
    // The driver refuses at once when its session pool is exhausted, so this one pools 32.
    const wide = new QldbDriver(
      'driver-test',
      { ...clientConfig(vellum.url, vellum.rootCredentials), maxAttempts: undefined },
      {},
      32,
    );
    await Promise.all(
      Array.from({ length: 32 }, () =>
        wide.executeLambda(async (txn) => {
          const [row] = (
            await txn.execute("SELECT VALUE total FROM Counter WHERE name = 'c'")
          ).getResultList();
          await txn.execute(
            "UPDATE Counter SET total = ? WHERE name = 'c'",
            row!.numberValue()! + 1,
          );
        }, new RetryConfig(40)),
      ),
    );
    wide.close();
    const [value] = await driver.executeLambda(async (txn) =>
      (await txn.execute("SELECT VALUE total FROM Counter WHERE name = 'c'")).getResultList(),
    );
    assert.equal(value!.numberValue(), 32);
  });

  test('surfaces a bad statement as BadRequestException without retrying', async () => {
    let attempts = 0;
    await assert.rejects(
      driver.executeLambda(async (txn) => {
        attempts++;
        await txn.execute('SELEC * FROM People');
      }),
      (error: Error) => {
        assert.equal(error.name, 'BadRequestException');
        assert.match(error.message, /Errors at: line 1, column 1/);
        return true;
      },
    );
    assert.equal(attempts, 1);
    // A parameter as a JS value is fine; a bad one never reaches the server.
    void dom;
  });

  test('commits after a caught statement error', async () => {
    await driver.executeLambda((txn) => txn.execute('CREATE TABLE Recovered'));
    // The driver folds every statement it sends into its commit digest, failed or not.
    const failures: string[] = [];
    await driver.executeLambda(async (txn) => {
      for (const bad of [
        'SELEC * FROM Recovered',
        'SELECT * FROM NoSuchTable',
        'SELECT ? FROM Recovered',
      ]) {
        await txn.execute(bad).catch((error: Error) => failures.push(error.name));
      }
      await txn.execute('INSERT INTO Recovered ?', { kept: true });
    });
    assert.deepEqual(failures, [
      'BadRequestException',
      'BadRequestException',
      'BadRequestException',
    ]);
    const rows = await driver.executeLambda(async (txn) =>
      (await txn.execute('SELECT * FROM Recovered')).getResultList(),
    );
    assert.equal(rows.length, 1);
  });

  test('names the cause after a statement failed part way', async () => {
    const ids = await driver.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Partial');
      const inserted = await txn.execute(
        "INSERT INTO Partial << {'k': 1, 'sub': []}, {'k': 2, 'sub': []}, {'k': 3, 'sub': []} >>",
      );
      return inserted.getResultList().map((row) => row.get('documentId')!.stringValue()!);
    });
    // Documents are updated in id order: the last one lacks the list, so the
    // statement writes the others before it fails.
    const last = [...ids].sort().at(-1)!;
    await driver.executeLambda((txn) =>
      txn.execute('UPDATE Partial AS t BY id SET t.sub = MISSING WHERE id = ?', last),
    );
    await assert.rejects(
      driver.executeLambda(async (txn) => {
        await txn
          .execute('FROM Partial AS t WHERE t.k > 0 INSERT INTO t.sub VALUE 1')
          .catch(() => undefined);
        await txn.execute("INSERT INTO Partial VALUE {'k': 4}");
      }),
      /was aborted when one of its statements failed after writing, so that no statement lands half-applied; start a new transaction/,
    );
    const count = await driver.executeLambda(async (txn) =>
      (await txn.execute('SELECT VALUE COUNT(*) FROM Partial')).getResultList(),
    );
    assert.equal(count[0]!.numberValue(), 3);
  });

  test('metrics count commands by outcome, sessions and key status', async () => {
    await driver.executeLambda((txn) => txn.execute('SELEC 1')).catch(() => undefined);
    const text = await (await fetch(`${vellum.url}/metrics`)).text();
    const sample = (pattern: string) => {
      const line = text.split('\n').find((candidate) => candidate.startsWith(pattern));
      assert.ok(line !== undefined, `no sample ${pattern}`);
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    assert.ok(sample('vellum_qldb_commands_total{command="CommitTransaction",outcome="ok"}') > 0);
    assert.ok(
      sample(
        'vellum_qldb_commands_total{command="ExecuteStatement",outcome="BadRequestException"}',
      ) > 0,
    );
    assert.ok(sample('vellum_qldb_command_duration_seconds_count{command="StartSession"}') > 0);
    assert.ok(sample('vellum_qldb_sessions_open') >= 1, 'the driver keeps its session');
    assert.equal(
      sample('vellum_ledger_encryption_status{ledger="driver-test",status="ENABLED"}'),
      1,
    );
    assert.equal(
      sample('vellum_ledger_encryption_status{ledger="driver-test",status="KMS_KEY_INACCESSIBLE"}'),
      0,
    );
  });

  test('control plane through @aws-sdk/client-qldb', async () => {
    const described = await qldb.send(new DescribeLedgerCommand({ Name: 'driver-test' }));
    assert.equal(described.State, 'ACTIVE');
    assert.ok(described.CreationDateTime instanceof Date);
    const digest = await qldb.send(new GetDigestCommand({ Name: 'driver-test' }));
    assert.equal(digest.Digest?.length, 32);
    assert.match(digest.DigestTipAddress?.IonText ?? '', /sequenceNo/);
    const listed = await qldb.send(new ListLedgersCommand({}));
    assert.deepEqual(
      listed.Ledgers?.map((l) => l.Name),
      ['driver-test'],
    );
    await assert.rejects(
      qldb.send(new DescribeLedgerCommand({ Name: 'missing' })),
      ResourceNotFoundException,
    );
    await qldb.send(new CreateLedgerCommand({ Name: 'temp', PermissionsMode: 'STANDARD' }));
    await assert.rejects(
      qldb.send(new DeleteLedgerCommand({ Name: 'temp' })),
      (error: Error) => error.name === 'ResourcePreconditionNotMetException',
    );
    await qldb.send(new UpdateLedgerCommand({ Name: 'temp', DeletionProtection: false }));
    await qldb.send(new DeleteLedgerCommand({ Name: 'temp' }));
  });
});
