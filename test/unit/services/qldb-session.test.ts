import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { dom, dumpBinary, load, makeBinaryWriter } from 'ion-js';
import { cryptoHasherProvider, makeHashWriter } from 'ion-hash-js';
import { Engine } from '../../../src/engine/index.js';
import { SessionService } from '../../../src/services/qldb/session-service.js';
import { ServiceError, type RequestContext } from '../../../src/services/types.js';
import { tempDir } from '../../helpers/backends.js';

// The driver's commit digest, written out here from its description rather
// than taken from the engine, so the two are checked against each other.
function ionHash(value: dom.Value): Buffer {
  const writer = makeHashWriter(makeBinaryWriter(), cryptoHasherProvider('sha256'));
  value.writeTo(writer);
  return Buffer.from(writer.digest());
}

function dot(a: Buffer, b: Buffer): Buffer {
  // Order by bytes compared from the last to the first as signed values.
  let aFirst = false;
  for (let i = 31; i >= 0; i--) {
    const x = (a[i]! << 24) >> 24;
    const y = (b[i]! << 24) >> 24;
    if (x !== y) {
      aFirst = x < y;
      break;
    }
  }
  return createHash('sha256')
    .update(aFirst ? a : b)
    .update(aFirst ? b : a)
    .digest();
}

class DigestTracker {
  #hash: Buffer;
  constructor(transactionId: string) {
    this.#hash = ionHash(new dom.String(transactionId));
  }
  add(statement: string, parameters: dom.Value[]): void {
    let s = ionHash(new dom.String(statement));
    for (const p of parameters) s = dot(s, ionHash(p));
    this.#hash = dot(this.#hash, s);
  }
  get base64(): string {
    return this.#hash.toString('base64');
  }
}

function context(arn = 'arn:aws:iam::000000000000:root'): RequestContext {
  return {
    principal: { accountId: '000000000000', arn, userId: 'AIDA', accessKeyId: 'AKIA' },
    requestId: 'r',
    region: 'us-east-1',
  };
}

const binary = (value: unknown) => ({
  IonBinary: Buffer.from(dumpBinary(dom.Value.from(value as never))).toString('base64'),
});

describe('QLDBSession SendCommand', () => {
  const dir = tempDir();
  let engine: Engine;
  let now = Date.now();
  let service: SessionService;
  const send = (body: Record<string, unknown>, ctx = context()) =>
    service.handle('SendCommand', body, ctx) as Promise<Record<string, Record<string, unknown>>>;

  before(async () => {
    engine = await Engine.open({ dataDir: dir.path });
    await engine.createLedger('orders');
    service = new SessionService({
      engine,
      accountId: '000000000000',
      region: 'us-east-1',
      pageSize: 200,
      now: () => now,
    });
  });
  after(async () => {
    service.close();
    await engine.close();
    dir.remove();
  });

  async function startSession(ctx = context()): Promise<string> {
    const reply = await send({ StartSession: { LedgerName: 'orders' } }, ctx);
    return reply.StartSession!.SessionToken as string;
  }

  /** Run statements in one transaction the way the driver does, committing with its digest. */
  async function transaction(
    token: string,
    statements: Array<[string, unknown[]]>,
  ): Promise<Array<Record<string, unknown>>> {
    const started = await send({ SessionToken: token, StartTransaction: {} });
    const txId = started.StartTransaction!.TransactionId as string;
    const digest = new DigestTracker(txId);
    const results = [];
    for (const [statement, parameters] of statements) {
      const values = parameters.map((p) => dom.Value.from(p as never));
      const reply = await send({
        SessionToken: token,
        ExecuteStatement: {
          TransactionId: txId,
          Statement: statement,
          Parameters: parameters.map(binary),
        },
      });
      digest.add(statement, values);
      results.push(reply.ExecuteStatement!);
    }
    const commit = await send({
      SessionToken: token,
      CommitTransaction: { TransactionId: txId, CommitDigest: digest.base64 },
    });
    assert.equal(commit.CommitTransaction!.CommitDigest, digest.base64);
    assert.equal(commit.CommitTransaction!.TransactionId, txId);
    return results;
  }

  test('runs the reference statements and returns Ion binary pages', async () => {
    const token = await startSession();
    await transaction(token, [
      ['CREATE TABLE Test', []],
      ['CREATE INDEX ON Test (id)', []],
    ]);
    await transaction(token, [['INSERT INTO Test ?', [{ id: 7, name: 'seven' }]]]);
    const [select] = await transaction(token, [['SELECT * FROM Test WHERE id = ?', [7]]]);
    const page = select!.FirstPage as { Values: Array<{ IonBinary: string }> };
    assert.equal(page.Values.length, 1);
    const document = load(Buffer.from(page.Values[0]!.IonBinary, 'base64'))!;
    assert.equal(document.get('name')?.stringValue(), 'seven');
    assert.deepEqual(select!.ConsumedIOs, { ReadIOs: 1, WriteIOs: 0 });
    assert.equal(
      typeof (select!.TimingInformation as Record<string, number>).ProcessingTimeMilliseconds,
      'number',
    );
  });

  test('pages results of more than 200 values through FetchPage', async () => {
    const token = await startSession();
    await transaction(token, [['CREATE TABLE Many', []]]);
    for (let start = 0; start < 450; start += 40) {
      const batch = Array.from({ length: Math.min(40, 450 - start) }, (_, i) => ({ n: start + i }));
      await transaction(token, [['INSERT INTO Many ?', [batch]]]);
    }
    const started = await send({ SessionToken: token, StartTransaction: {} });
    const txId = started.StartTransaction!.TransactionId as string;
    const first = await send({
      SessionToken: token,
      ExecuteStatement: {
        TransactionId: txId,
        Statement: 'SELECT VALUE n FROM Many',
        Parameters: [],
      },
    });
    let page = first.ExecuteStatement!.FirstPage as { Values: unknown[]; NextPageToken?: string };
    let total = page.Values.length;
    let pages = 1;
    while (page.NextPageToken !== undefined) {
      const next = await send({
        SessionToken: token,
        FetchPage: { TransactionId: txId, NextPageToken: page.NextPageToken },
      });
      page = next.FetchPage!.Page as typeof page;
      total += page.Values.length;
      pages++;
    }
    assert.equal(total, 450);
    assert.equal(pages, 3);
    await send({ SessionToken: token, AbortTransaction: {} });
  });

  test('rejects a wrong commit digest and writes nothing', async () => {
    const token = await startSession();
    await transaction(token, [['CREATE TABLE Digests', []]]);
    const started = await send({ SessionToken: token, StartTransaction: {} });
    const txId = started.StartTransaction!.TransactionId as string;
    await send({
      SessionToken: token,
      ExecuteStatement: {
        TransactionId: txId,
        Statement: "INSERT INTO Digests VALUE {'a': 1}",
        Parameters: [],
      },
    });
    await assert.rejects(
      send({
        SessionToken: token,
        CommitTransaction: {
          TransactionId: txId,
          CommitDigest: Buffer.alloc(32, 7).toString('base64'),
        },
      }),
      (error) =>
        error instanceof ServiceError &&
        error.code === 'BadRequestException' &&
        error.message === "Digests don't match",
    );
    await send({ SessionToken: token, AbortTransaction: {} });
    const [count] = await transaction(token, [['SELECT COUNT(*) AS n FROM Digests', []]]);
    const value = load(
      Buffer.from(
        (count!.FirstPage as { Values: Array<{ IonBinary: string }> }).Values[0]!.IonBinary,
        'base64',
      ),
    )!;
    assert.equal(value.get('n')?.numberValue(), 0);
  });

  test('enforces one transaction per session and the session rules', async () => {
    const token = await startSession();
    await send({ SessionToken: token, StartTransaction: {} });
    await assert.rejects(
      send({ SessionToken: token, StartTransaction: {} }),
      /Transaction already open/,
    );
    // AbortTransaction without an id aborts the open one, and is accepted again after.
    await send({ SessionToken: token, AbortTransaction: {} });
    await send({ SessionToken: token, AbortTransaction: {} });

    await assert.rejects(
      send({ SessionToken: 'bm9zdWNoc2Vzc2lvbg==', StartTransaction: {} }),
      (error) =>
        error instanceof ServiceError &&
        error.code === 'InvalidSessionException' &&
        error.message === 'No such session',
    );
    // Another principal cannot use the token.
    await assert.rejects(
      send(
        { SessionToken: token, StartTransaction: {} },
        context('arn:aws:iam::000000000000:user/other'),
      ),
      /No such session/,
    );
    await assert.rejects(
      send({ SessionToken: token, StartTransaction: {}, EndSession: {} }),
      /exactly one command/,
    );
    await assert.rejects(
      send({ StartSession: { LedgerName: 'no-such-ledger' } }),
      /does not exist/,
    );
    await assert.rejects(send({ StartSession: { LedgerName: 'bad--name' } }), /Invalid LedgerName/);

    await send({ SessionToken: token, EndSession: {} });
    await assert.rejects(send({ SessionToken: token, StartTransaction: {} }), /No such session/);
  });

  test('expires transactions after 30 s and sessions after their lifetime', async () => {
    const token = await startSession();
    const started = await send({ SessionToken: token, StartTransaction: {} });
    const txId = started.StartTransaction!.TransactionId as string;
    const realNow = Date.now;
    // Transactions measure their age with Date.now.
    Date.now = () => realNow() + 31_000;
    try {
      await assert.rejects(
        send({
          SessionToken: token,
          ExecuteStatement: {
            TransactionId: txId,
            Statement: 'SELECT * FROM Test',
            Parameters: [],
          },
        }),
        (error) =>
          error instanceof ServiceError &&
          error.code === 'InvalidSessionException' &&
          error.message === `Transaction ${txId} has expired`,
      );
    } finally {
      Date.now = realNow;
    }
    const second = await startSession();
    now += 16 * 60_000;
    try {
      await assert.rejects(
        send({ SessionToken: second, StartTransaction: {} }),
        /Session .* has expired/,
      );
    } finally {
      now -= 16 * 60_000;
    }
  });

  test('reports bad input with the documented error types', async () => {
    const token = await startSession();
    const started = await send({ SessionToken: token, StartTransaction: {} });
    const txId = started.StartTransaction!.TransactionId as string;
    const execute = (extra: Record<string, unknown>) =>
      send({
        SessionToken: token,
        ExecuteStatement: {
          TransactionId: txId,
          Statement: 'SELECT * FROM Test WHERE id = ?',
          ...extra,
        },
      });
    await assert.rejects(
      execute({
        Parameters: [{ IonBinary: Buffer.from([0xe0, 1, 0, 0xea, 0x21]).toString('base64') }],
      }),
      /not valid Ion/,
    );
    await assert.rejects(
      execute({ Parameters: [{ IonText: '1 2' }] }),
      /exactly one Ion value, got 2/,
    );
    await assert.rejects(execute({ Parameters: 'nope' }), /list of value holders/);
    await assert.rejects(execute({ Parameters: [] }), /1 parameter/);
    await assert.rejects(
      send({
        SessionToken: token,
        ExecuteStatement: { TransactionId: txId, Statement: 'x'.repeat(100_001), Parameters: [] },
      }),
      (error) =>
        error instanceof ServiceError &&
        error.code === 'BadRequestException' &&
        /100000|100,000/.test(error.message),
    );
    await assert.rejects(
      send({
        SessionToken: token,
        ExecuteStatement: {
          TransactionId: 'A'.repeat(22),
          Statement: 'SELECT 1 FROM Test',
          Parameters: [],
        },
      }),
      /not the open transaction/,
    );
    await assert.rejects(
      service.handle('Other', {}, context()),
      (error) => error instanceof ServiceError && error.code === 'UnknownOperationException',
    );
    // The session still works.
    const ok = await execute({ Parameters: [binary(7)] });
    assert.equal((ok.ExecuteStatement!.FirstPage as { Values: unknown[] }).Values.length, 1);
    await send({ SessionToken: token, AbortTransaction: {} });
  });
});
