import { after, before, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import assert from 'node:assert/strict';
import { StoreUnavailableError } from '../../../src/storage/store.js';
import { sendRaw, sendSigned, type RawResponse } from '../../helpers/signed-request.js';
import { ROOT, startTestServer, type TestServer } from '../../helpers/test-server.js';

const KMS = { credentials: ROOT, service: 'kms' };
const IAM = { credentials: ROOT, service: 'iam', payloadHash: false };
const QLDB = { credentials: ROOT, service: 'qldb' };
const FORM = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };

function counterCall(operation: string, body = '{}', contentType = 'application/x-amz-json-1.1') {
  return {
    path: '/',
    headers: { 'content-type': contentType, 'x-amz-target': `CounterService.${operation}` },
    body,
  };
}

function jsonError(response: RawResponse): { type: string; message: string } {
  const body = JSON.parse(response.body) as { __type: string; message: string };
  assert.equal(response.headers['x-amzn-errortype'], body.__type);
  return { type: body.__type, message: body.message };
}

function assertAwsHeaders(response: RawResponse): void {
  assert.match(String(response.headers['x-amzn-requestid']), /^[0-9a-f-]{36}$/);
  assert.ok(response.headers.date, 'Date header');
}

describe('routing and errors', () => {
  let t: TestServer;
  const logLines: Array<Record<string, unknown>> = [];

  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    t = await startTestServer({ bodyLimit: 64 * 1024, logger: pino({ level: 'info' }, sink) });
  });
  after(async () => {
    await t.close();
  });

  test('JSON success carries request id and Date', async () => {
    const response = await sendSigned(t.url, counterCall('Get'), KMS);
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-type'], 'application/x-amz-json-1.1');
    assertAwsHeaders(response);
    const body = JSON.parse(response.body) as { Caller: string; RequestId: string };
    assert.equal(body.Caller, 'arn:aws:iam::000000000000:root');
    assert.equal(body.RequestId, response.headers['x-amzn-requestid']);
  });

  test('unknown target answers UnknownOperationException', async () => {
    const unknownPrefix = await sendSigned(
      t.url,
      {
        ...counterCall('Get'),
        headers: { ...counterCall('Get').headers, 'x-amz-target': 'Nope.Get' },
      },
      KMS,
    );
    assert.equal(unknownPrefix.status, 400);
    assertAwsHeaders(unknownPrefix);
    const error = jsonError(unknownPrefix);
    assert.equal(error.type, 'UnknownOperationException');
    assert.match(
      error.message,
      /X-Amz-Target 'Nope.Get' names no operation of this endpoint; known prefixes are CounterService/,
    );

    const noOperation = await sendSigned(
      t.url,
      {
        ...counterCall('Get'),
        headers: { ...counterCall('Get').headers, 'x-amz-target': 'CounterService' },
      },
      KMS,
    );
    assert.equal(jsonError(noOperation).type, 'UnknownOperationException');

    const unknownOperation = await sendSigned(t.url, counterCall('Explode'), KMS);
    assert.equal(jsonError(unknownOperation).type, 'UnknownOperationException');
  });

  test('malformed JSON answers SerializationException', async () => {
    for (const [body, message] of [
      ['{"By":', /^The request body is not valid JSON: /],
      ['[1,2]', /must be a JSON object, not an array/],
      ['42', /must be a JSON object, not 42/],
    ] as const) {
      const response = await sendSigned(t.url, counterCall('Increment', body), KMS);
      assert.equal(response.status, 400, body);
      const error = jsonError(response);
      assert.equal(error.type, 'SerializationException');
      assert.match(error.message, message);
    }
    assert.equal(t.counter.count, 0);

    const empty = await sendSigned(t.url, counterCall('Get', ''), KMS);
    assert.equal(empty.status, 200, 'an empty body is an empty input');
  });

  test('wrong content type answers SerializationException', async () => {
    const response = await sendSigned(t.url, counterCall('Increment', '{}', 'text/plain'), KMS);
    assert.equal(response.status, 400);
    assert.deepEqual(jsonError(response), {
      type: 'SerializationException',
      message:
        "Content-Type 'text/plain' is not supported for X-Amz-Target requests; send application/x-amz-json-1.1.",
    });
    assert.equal(t.counter.count, 0);
  });

  test('oversized body answers 413 and the server keeps serving', async () => {
    const big = JSON.stringify({ By: 1, Padding: 'x'.repeat(70 * 1024) });
    const json = await sendSigned(t.url, counterCall('Increment', big), KMS);
    assert.equal(json.status, 413);
    assertAwsHeaders(json);
    const error = jsonError(json);
    assert.equal(error.type, 'RequestEntityTooLargeException');
    assert.equal(
      error.message,
      'The request body exceeds the limit of 65536 bytes; send a smaller request body.',
    );

    const query = await sendSigned(
      t.url,
      { path: '/', headers: FORM, body: `Action=PutValue&Value=${'x'.repeat(70 * 1024)}` },
      IAM,
    );
    assert.equal(query.status, 413);
    assert.match(query.body, /<Code>RequestEntityTooLarge<\/Code>/);
    assert.equal(t.counter.count, 0);
    assert.deepEqual(t.values.values, []);

    const after = await sendSigned(t.url, counterCall('Get'), KMS);
    assert.equal(after.status, 200);
  });

  test('unexpected errors answer InternalFailure and are survived', async () => {
    const crash = await sendSigned(t.url, counterCall('Crash'), KMS);
    assert.equal(crash.status, 500);
    assert.deepEqual(jsonError(crash), {
      type: 'InternalFailure',
      message:
        'The request processing has failed because of an unknown error, exception or failure.',
    });
    const logged = logLines.find((line) => line.requestId === crash.headers['x-amzn-requestid']);
    assert.ok(logged, 'the failure was logged with its request id');
    assert.equal(logged.level, 50);
    assert.equal(logged.msg, 'request failed with an unexpected error');
    assert.equal((logged.err as { message: string }).message, 'counter exploded');

    const rejected = await sendSigned(t.url, counterCall('Reject'), KMS);
    assert.equal(rejected.status, 400);
    assert.deepEqual(jsonError(rejected), {
      type: 'DisabledException',
      message: 'the counter is disabled.',
    });

    const after = await sendSigned(t.url, counterCall('Increment'), KMS);
    assert.equal(after.status, 200);
    t.counter.count = 0;
  });

  test('an unreachable store answers 503 in every protocol, the signature check included', async () => {
    const down = await sendSigned(t.url, counterCall('Unavailable'), KMS);
    assert.equal(down.status, 503);
    assert.deepEqual(jsonError(down), {
      type: 'DependencyTimeoutException',
      message: 'Storage write failed, retry the request: the counter store is down',
    });
    const logged = logLines.find((line) => line.requestId === down.headers['x-amzn-requestid']);
    assert.equal(logged?.level, 40, 'logged as a warning, not as an unexpected error');

    // Looking up the signing key reads the store before any service runs.
    t.credentials.failure = new StoreUnavailableError('PostgreSQL is unavailable: ECONNREFUSED');
    try {
      const json = await sendSigned(t.url, counterCall('Get'), KMS);
      assert.equal(json.status, 503);
      assert.equal(jsonError(json).type, 'DependencyTimeoutException');
      assert.match(jsonError(json).message, /PostgreSQL is unavailable/);

      const query = await sendSigned(
        t.url,
        { path: '/', headers: FORM, body: 'Action=ListValues&Version=2010-05-08' },
        IAM,
      );
      assert.equal(query.status, 503);
      assert.match(
        query.body,
        /<Error><Type>Receiver<\/Type><Code>ServiceUnavailable<\/Code><Message>PostgreSQL is unavailable: ECONNREFUSED<\/Message>/,
      );

      const rest = await sendSigned(t.url, { method: 'GET', path: '/ledgers/any' }, QLDB);
      assert.equal(rest.status, 503);
      assert.equal(rest.headers['x-amzn-errortype'], 'ServiceUnavailableException');
    } finally {
      t.credentials.failure = undefined;
    }
    const after = await sendSigned(t.url, counterCall('Get'), KMS);
    assert.equal(after.status, 200);
  });

  test('query protocol renders results and errors as XML', async () => {
    const put = await sendSigned(
      t.url,
      { path: '/', headers: FORM, body: 'Action=PutValue&Version=2010-05-08&Value=a%26b%3Cc' },
      IAM,
    );
    assert.equal(put.status, 200, put.body);
    assert.equal(put.headers['content-type'], 'text/xml');
    assert.match(
      put.body,
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<PutValueResponse xmlns="https:\/\/iam.amazonaws.com\/doc\/2010-05-08\/"><ResponseMetadata><RequestId>[0-9a-f-]{36}<\/RequestId><\/ResponseMetadata><\/PutValueResponse>\n$/,
    );

    const list = await sendSigned(
      t.url,
      { path: '/', headers: FORM, body: 'Action=ListValues&Version=2010-05-08' },
      IAM,
    );
    assert.match(
      list.body,
      /<ListValuesResult><Values><member>a&amp;b&lt;c<\/member><\/Values><Count>1<\/Count><When>1970-01-01T00:00:00.000Z<\/When><\/ListValuesResult>/,
    );

    const unknown = await sendSigned(
      t.url,
      { path: '/', headers: FORM, body: 'Action=Frobnicate&Version=2010-05-08' },
      IAM,
    );
    assert.equal(unknown.status, 400);
    assert.match(
      unknown.body,
      /<ErrorResponse xmlns="https:\/\/iam.amazonaws.com\/doc\/2010-05-08\/"><Error><Type>Sender<\/Type><Code>InvalidAction<\/Code><Message>Could not find operation Frobnicate for version 2010-05-08<\/Message><\/Error><RequestId>/,
    );

    const missing = await sendSigned(
      t.url,
      { path: '/', headers: FORM, body: 'Version=2010-05-08' },
      IAM,
    );
    assert.equal(missing.status, 400);
    assert.match(missing.body, /<Code>MissingAction<\/Code>/);
    t.values.values.length = 0;
  });

  test('REST routes, unknown paths and REST errors', async () => {
    const missing = await sendSigned(t.url, { method: 'GET', path: '/ledgers/nope' }, QLDB);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['x-amzn-errortype'], 'ResourceNotFoundException');
    assert.deepEqual(JSON.parse(missing.body), { Message: 'Ledger nope not found' });

    const unknown = await sendSigned(t.url, { method: 'DELETE', path: '/ledgers/nope/x' }, QLDB);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers['x-amzn-errortype'], 'UnknownOperationException');
    assert.match(JSON.parse(unknown.body).Message, /No operation of this endpoint matches DELETE/);

    const badJson = await sendSigned(
      t.url,
      { path: '/ledgers', headers: { 'content-type': 'application/json' }, body: '{oops' },
      QLDB,
    );
    assert.equal(badJson.status, 400);
    assert.equal(badJson.headers['x-amzn-errortype'], 'SerializationException');
    assert.equal(t.ledgers.size, 0);

    const options = await sendRaw(t.url, { method: 'OPTIONS', path: '/ledgers' });
    assert.equal(options.status, 404);
    assert.equal(options.headers['x-amzn-errortype'], 'UnknownOperationException');
    assert.deepEqual(JSON.parse(options.body), {
      Message: 'No operation of this endpoint matches OPTIONS /ledgers.',
    });
  });

  test('health and metrics need no signature', async () => {
    const health = await sendRaw(t.url, { method: 'GET', path: '/health' });
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
    assertAwsHeaders(health);

    const metrics = await sendRaw(t.url, { method: 'GET', path: '/metrics' });
    assert.equal(metrics.status, 200);
    assert.match(
      metrics.body,
      /vellum_requests_total\{service="counter",operation="Get",status="200"\} \d+/,
    );
    assert.match(
      metrics.body,
      /vellum_requests_total\{service="counter",operation="unknown",status="400"\}/,
    );
    assert.match(
      metrics.body,
      /vellum_request_duration_seconds_bucket\{le="[0-9.]+",service="counter",operation="Increment"\}/,
    );
  });
});
