import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateLedgerCommand,
  DeleteLedgerCommand,
  GetBlockCommand,
  GetDigestCommand,
  GetRevisionCommand,
  ListTagsForResourceCommand,
  QLDBClient,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-qldb';
import {
  QLDBSessionClient,
  SendCommandCommand,
  type SendCommandCommandInput,
} from '@aws-sdk/client-qldb-session';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import { dom, dumpBinary } from 'ion-js';
import { MAX_SESSIONS_PER_LEDGER } from '../../src/services/qldb/session-service.js';
import { sendSigned } from '../helpers/signed-request.js';
import {
  clientConfig,
  startVellumInstance,
  type VellumInstance,
} from '../helpers/vellum-instance.js';

describe('QLDB session and control plane over HTTP: errors and proofs', () => {
  let vellum: VellumInstance;
  let session: QLDBSessionClient;
  let qldb: QLDBClient;

  before(async () => {
    vellum = await startVellumInstance();
    const config = clientConfig(vellum.url, vellum.rootCredentials);
    qldb = new QLDBClient(config);
    session = new QLDBSessionClient(config);
    await qldb.send(new CreateLedgerCommand({ Name: 'errors', PermissionsMode: 'ALLOW_ALL' }));
  });
  after(async () => {
    await vellum.dispose();
  });

  const send = (input: SendCommandCommandInput) => session.send(new SendCommandCommand(input));
  const rejects = (promise: Promise<unknown>, name: string, message?: RegExp) =>
    assert.rejects(promise, (error: Error) => {
      assert.equal(error.name, name, error.message);
      if (message !== undefined) assert.match(error.message, message);
      return true;
    });

  test('bad session input gets the documented errors and the server keeps serving', async () => {
    const token = (await send({ StartSession: { LedgerName: 'errors' } })).StartSession!
      .SessionToken!;
    const txId = (await send({ SessionToken: token, StartTransaction: {} })).StartTransaction!
      .TransactionId!;

    await rejects(
      send({ SessionToken: token, StartTransaction: {} }),
      'BadRequestException',
      /Transaction already open/,
    );
    await rejects(
      send({
        SessionToken: token,
        ExecuteStatement: {
          TransactionId: txId,
          Statement: 'SELECT * FROM t WHERE a = ?',
          Parameters: [{ IonBinary: new Uint8Array([0xe0, 1, 0, 0xea, 0x21]) }],
        },
      }),
      'BadRequestException',
      /not valid Ion/,
    );
    await rejects(
      send({
        SessionToken: token,
        ExecuteStatement: { TransactionId: txId, Statement: 'x'.repeat(100_001), Parameters: [] },
      }),
      'BadRequestException',
    );
    await rejects(
      send({
        SessionToken: token,
        ExecuteStatement: {
          TransactionId: 'A'.repeat(22),
          Statement: 'SELECT 1 FROM t',
          Parameters: [],
        },
      }),
      'BadRequestException',
      /not the open transaction/,
    );
    await rejects(
      send({ SessionToken: 'bm90LWEtdG9rZW4=', StartTransaction: {} }),
      'InvalidSessionException',
      /No such session/,
    );

    // A commit after an abort is refused; the abort itself may be repeated.
    await send({ SessionToken: token, AbortTransaction: {} });
    await send({ SessionToken: token, AbortTransaction: {} });
    await rejects(
      send({
        SessionToken: token,
        CommitTransaction: { TransactionId: txId, CommitDigest: new Uint8Array(32) },
      }),
      'BadRequestException',
    );

    const malformed = await sendSigned(
      vellum.url,
      {
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'QLDBSession.SendCommand',
        },
        body: '{"StartSession": ',
      },
      { credentials: vellum.rootCredentials, service: 'qldb' },
    );
    assert.equal(malformed.status, 400);
    assert.match(malformed.body, /SerializationException|BadRequestException/);

    // The session still works.
    const again = (await send({ SessionToken: token, StartTransaction: {} })).StartTransaction!
      .TransactionId!;
    assert.equal(again.length, 22);
    await send({ SessionToken: token, EndSession: {} });
  });

  test('parameter limits by Ion form', async () => {
    const token = (await send({ StartSession: { LedgerName: 'errors' } })).StartSession!
      .SessionToken!;
    const txId = (await send({ SessionToken: token, StartTransaction: {} })).StartTransaction!
      .TransactionId!;
    const select = (parameter: { IonText: string } | { IonBinary: Uint8Array }) =>
      send({
        SessionToken: token,
        ExecuteStatement: {
          TransactionId: txId,
          Statement: 'SELECT * FROM information_schema.user_tables WHERE name = ?',
          Parameters: [parameter],
        },
      });
    const text = (length: number) => `"${'x'.repeat(length - 2)}"`;

    // QLDB allows 1 MB of Ion text, even where the value takes more than 128 KB as Ion binary.
    const wide = await select({ IonText: text(200_000) });
    assert.deepEqual(wide.ExecuteStatement!.FirstPage!.Values, []);
    const atLimit = await select({ IonText: text(1024 * 1024) });
    assert.deepEqual(atLimit.ExecuteStatement!.FirstPage!.Values, []);
    await rejects(
      select({ IonText: text(1024 * 1024 + 1) }),
      'LimitExceededException',
      /^Parameters\[0\] is 1048577 bytes of Ion text, more than the limit of 1048576$/,
    );
    const binary = dumpBinary(dom.Value.from('x'.repeat(131_072)));
    await rejects(
      select({ IonBinary: binary }),
      'LimitExceededException',
      new RegExp(
        `^Parameter 1 is ${binary.length} bytes of Ion binary, more than the limit of 131072$`,
      ),
    );
    await send({ SessionToken: token, EndSession: {} });
  });

  test('session quota rejects transactions, not sessions', async () => {
    await qldb.send(new CreateLedgerCommand({ Name: 'crowded', PermissionsMode: 'ALLOW_ALL' }));
    // Runs `work` over `items` with at most 32 requests at a time.
    const inPool = async <T, R>(items: T[], work: (item: T) => Promise<R>) => {
      const results: R[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(32, items.length) }, async () => {
          while (next < items.length) {
            const i = next++;
            results[i] = await work(items[i]!);
          }
        }),
      );
      return results;
    };
    const startSessions = (count: number) =>
      inPool(Array.from({ length: count }), async () => {
        const reply = await send({ StartSession: { LedgerName: 'crowded' } });
        return reply.StartSession!.SessionToken!;
      });
    // Idle sessions up to the quota, as the pools of crashed applications leave them.
    const idle = await startSessions(MAX_SESSIONS_PER_LEDGER);
    const driver = new QldbDriver(
      'crowded',
      { ...clientConfig(vellum.url, vellum.rootCredentials), maxAttempts: undefined },
      {},
      2,
      new RetryConfig(0),
    );
    const run = () =>
      driver.executeLambda(async (txn) =>
        (await txn.execute('SELECT * FROM information_schema.user_tables')).getResultList(),
      );
    for (let i = 0; i < 3; i++) await run();

    // The driver's session replaced the idle session used longest ago.
    const outcomes = await inPool(idle, (token) =>
      send({ SessionToken: token, StartTransaction: {} }).then(
        (reply) => ({ token, txId: reply.StartTransaction!.TransactionId! }),
        (error: Error) => error.name,
      ),
    );
    const running = outcomes.filter((outcome) => typeof outcome !== 'string');
    assert.deepEqual(
      outcomes.filter((outcome) => typeof outcome === 'string'),
      ['InvalidSessionException'],
    );
    const [extra] = await startSessions(1);
    const last = await send({ SessionToken: extra!, StartTransaction: {} });
    running.push({ token: extra!, txId: last.StartTransaction!.TransactionId! });
    assert.equal(running.length, MAX_SESSIONS_PER_LEDGER);

    // With every allowed session running a transaction, a new session still starts but its
    // transaction is rejected. The driver keeps its pool permits, so it recovers.
    const [late] = await startSessions(1);
    await rejects(
      send({ SessionToken: late!, StartTransaction: {} }),
      'LimitExceededException',
      /Ledger crowded has 3000 active sessions, each running a transaction, and the limit is 3000/,
    );
    for (let i = 0; i < 3; i++) {
      await assert.rejects(run(), (error: Error) => error.name === 'LimitExceededException');
    }
    await send({ SessionToken: running[0]!.token, AbortTransaction: {} });
    assert.deepEqual(await run(), []);
    driver.close();
  });

  test('ledger deleted during a transaction', async () => {
    await qldb.send(
      new CreateLedgerCommand({
        Name: 'doomed',
        PermissionsMode: 'ALLOW_ALL',
        DeletionProtection: false,
      }),
    );
    const driver = new QldbDriver(
      'doomed',
      { ...clientConfig(vellum.url, vellum.rootCredentials), maxAttempts: undefined },
      {},
      2,
    );
    await driver.executeLambda((txn) => txn.execute('CREATE TABLE Orders'));

    let attempts = 0;
    await assert.rejects(
      driver.executeLambda(async (txn) => {
        attempts++;
        await txn.execute('INSERT INTO Orders ?', { id: 1 });
        if (attempts === 1) await qldb.send(new DeleteLedgerCommand({ Name: 'doomed' }));
      }),
      (error: Error) => {
        assert.equal(error.name, 'BadRequestException');
        assert.match(error.message, /^The ledger was deleted while the transaction ran/);
        return true;
      },
    );
    assert.equal(attempts, 1, 'a deleted ledger is not worth a retry');

    await assert.rejects(
      driver.executeLambda((txn) => txn.execute('SELECT * FROM Orders')),
      (error: Error) => {
        assert.equal(error.name, 'BadRequestException');
        assert.equal(error.message, 'Ledger doomed does not exist');
        return true;
      },
    );
    driver.close();
  });

  test('GetBlock with a proof, GetRevision errors, tags', async () => {
    const digest = await qldb.send(new GetDigestCommand({ Name: 'errors' }));
    const tip = digest.DigestTipAddress!.IonText!;
    const block = await qldb.send(
      new GetBlockCommand({
        Name: 'errors',
        BlockAddress: { IonText: tip },
        DigestTipAddress: { IonText: tip },
      }),
    );
    assert.match(block.Block!.IonText!, /blockAddress/);
    assert.ok(block.Proof?.IonText !== undefined);
    await rejects(
      qldb.send(
        new GetRevisionCommand({
          Name: 'errors',
          BlockAddress: { IonText: tip },
          DocumentId: 'A'.repeat(22),
        }),
      ),
      'InvalidParameterException',
    );

    const arn = 'arn:aws:qldb:us-east-1:000000000000:ledger/errors';
    await qldb.send(
      new TagResourceCommand({ ResourceArn: arn, Tags: { team: 'ledger', stage: 'ci' } }),
    );
    await qldb.send(new UntagResourceCommand({ ResourceArn: arn, TagKeys: ['stage'] }));
    const tags = await qldb.send(new ListTagsForResourceCommand({ ResourceArn: arn }));
    assert.deepEqual(tags.Tags, { team: 'ledger' });
  });
});
