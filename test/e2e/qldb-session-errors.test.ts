import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateLedgerCommand,
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
