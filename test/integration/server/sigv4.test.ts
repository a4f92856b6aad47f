import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import {
  sendRaw,
  sendSigned,
  signRequest,
  type RawResponse,
} from '../../helpers/signed-request.js';
import { ROOT, startTestServer, type TestServer } from '../../helpers/test-server.js';

const JSON_HEADERS = {
  'content-type': 'application/x-amz-json-1.1',
  'x-amz-target': 'CounterService.Increment',
};
const INCREMENT = { path: '/', headers: JSON_HEADERS, body: '{"By":1}' };
const QUERY = {
  path: '/',
  headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
  body: 'Action=PutValue&Version=2010-05-08&Value=v1',
};
const CREATE_LEDGER = {
  path: '/ledgers',
  headers: { 'content-type': 'application/json' },
  body: '{"Name":"ledger-one"}',
};

const MISMATCH =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

function jsonError(response: RawResponse): { type: string; message: string } {
  const body = JSON.parse(response.body) as { __type: string; message: string };
  assert.equal(response.headers['x-amzn-errortype'], body.__type);
  return { type: body.__type, message: body.message };
}

function xmlError(response: RawResponse): { type: string; code: string; message: string } {
  const pick = (tag: string): string =>
    new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(response.body)?.[1] ?? '';
  assert.match(response.body, /^<\?xml[^>]*>\n<ErrorResponse( xmlns="https:\/\/iam[^"]*")?>/);
  assert.match(response.body, /<RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>/);
  return { type: pick('Type'), code: pick('Code'), message: pick('Message') };
}

function restError(response: RawResponse): { type: unknown; message: string } {
  const body = JSON.parse(response.body) as { Message: string };
  return { type: response.headers['x-amzn-errortype'], message: body.Message };
}

describe('SigV4 verification', () => {
  let t: TestServer;

  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  function assertNothingExecuted(): void {
    assert.equal(t.counter.count, 0, 'the JSON operation ran');
    assert.deepEqual(t.values.values, [], 'the query action ran');
    assert.equal(t.ledgers.size, 0, 'the REST operation ran');
  }

  test('valid signatures pass in every protocol', async () => {
    const json = await sendSigned(t.url, INCREMENT, { credentials: ROOT, service: 'kms' });
    assert.equal(json.status, 200, json.body);
    assert.deepEqual(JSON.parse(json.body), { Count: 1 });

    const query = await sendSigned(t.url, QUERY, {
      credentials: ROOT,
      service: 'iam',
      payloadHash: false,
    });
    assert.equal(query.status, 200, query.body);
    assert.deepEqual(t.values.values, ['v1']);

    const rest = await sendSigned(t.url, CREATE_LEDGER, { credentials: ROOT, service: 'qldb' });
    assert.equal(rest.status, 200, rest.body);
    assert.ok(t.ledgers.has('ledger-one'));

    t.counter.count = 0;
    t.values.values.length = 0;
    t.ledgers.clear();
  });

  test('wrong secret is rejected', async () => {
    const credentials = { ...ROOT, secretAccessKey: 'not-the-secret' };
    const json = await sendSigned(t.url, INCREMENT, { credentials, service: 'kms' });
    assert.equal(json.status, 400);
    assert.deepEqual(jsonError(json), { type: 'InvalidSignatureException', message: MISMATCH });

    const query = await sendSigned(t.url, QUERY, { credentials, service: 'iam' });
    assert.equal(query.status, 403);
    assert.deepEqual(xmlError(query), {
      type: 'Sender',
      code: 'SignatureDoesNotMatch',
      message: MISMATCH,
    });

    const rest = await sendSigned(t.url, CREATE_LEDGER, { credentials, service: 'qldb' });
    assert.equal(rest.status, 403);
    assert.deepEqual(restError(rest), { type: 'InvalidSignatureException', message: MISMATCH });
    assertNothingExecuted();
  });

  test('unknown access key is rejected', async () => {
    const credentials = { accessKeyId: 'AKIANOSUCHKEY0000000', secretAccessKey: 'x' };
    const invalid = 'The security token included in the request is invalid.';
    const json = await sendSigned(t.url, INCREMENT, { credentials, service: 'kms' });
    assert.equal(json.status, 400);
    assert.deepEqual(jsonError(json), { type: 'UnrecognizedClientException', message: invalid });

    const query = await sendSigned(t.url, QUERY, { credentials, service: 'iam' });
    assert.equal(query.status, 403);
    assert.equal(xmlError(query).code, 'InvalidClientTokenId');
    assert.equal(xmlError(query).message, invalid);
    assertNothingExecuted();
  });

  test('wrong service in the scope is rejected', async () => {
    const json = await sendSigned(t.url, INCREMENT, { credentials: ROOT, service: 'qldb' });
    assert.equal(json.status, 400);
    assert.deepEqual(jsonError(json), {
      type: 'InvalidSignatureException',
      message: "Credential should be scoped to correct service: 'kms'. ",
    });

    const query = await sendSigned(t.url, QUERY, { credentials: ROOT, service: 'kms' });
    assert.equal(query.status, 403);
    assert.deepEqual(xmlError(query), {
      type: 'Sender',
      code: 'SignatureDoesNotMatch',
      message: "Credential should be scoped to correct service: 'iam'. ",
    });

    const rest = await sendSigned(t.url, CREATE_LEDGER, { credentials: ROOT, service: 'kms' });
    assert.equal(rest.status, 403);
    assert.deepEqual(restError(rest), {
      type: 'InvalidSignatureException',
      message: "Credential should be scoped to correct service: 'qldb'. ",
    });
    assertNothingExecuted();
  });

  test('wrong region in the scope is rejected', async () => {
    const json = await sendSigned(t.url, INCREMENT, {
      credentials: ROOT,
      service: 'kms',
      region: 'eu-west-2',
    });
    assert.equal(json.status, 400);
    const error = jsonError(json);
    assert.equal(error.type, 'InvalidSignatureException');
    assert.match(error.message, /^Credential should be scoped to a valid region\./);
    assert.match(error.message, /serves 'us-east-1'.*signed for 'eu-west-2'/);
    assertNothingExecuted();
  });

  test('stale and future signing times are rejected', async () => {
    const stale = new Date(Date.now() - 6 * 60 * 1000);
    const old = await sendSigned(t.url, INCREMENT, {
      credentials: ROOT,
      service: 'kms',
      signingDate: stale,
    });
    assert.equal(old.status, 400);
    const oldError = jsonError(old);
    assert.equal(oldError.type, 'InvalidSignatureException');
    assert.match(
      oldError.message,
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/,
    );

    const future = await sendSigned(t.url, QUERY, {
      credentials: ROOT,
      service: 'iam',
      signingDate: new Date(Date.now() + 6 * 60 * 1000),
    });
    assert.equal(future.status, 403);
    const futureError = xmlError(future);
    assert.equal(futureError.code, 'SignatureDoesNotMatch');
    assert.match(
      futureError.message,
      /^Signature not yet current: .* \(\d{8}T\d{6}Z \+ 5 min\.\)$/,
    );

    const withinWindow = await sendSigned(t.url, INCREMENT, {
      credentials: ROOT,
      service: 'kms',
      signingDate: new Date(Date.now() - 4 * 60 * 1000),
    });
    assert.equal(withinWindow.status, 200, withinWindow.body);
    t.counter.count = 0;
    assertNothingExecuted();
  });

  test('missing Authorization header is rejected', async () => {
    const json = await sendRaw(t.url, INCREMENT);
    assert.equal(json.status, 400);
    assert.deepEqual(jsonError(json), {
      type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    });

    const query = await sendRaw(t.url, QUERY);
    assert.equal(query.status, 403);
    assert.deepEqual(xmlError(query), {
      type: 'Sender',
      code: 'MissingAuthenticationToken',
      message: 'Request is missing Authentication Token',
    });

    const rest = await sendRaw(t.url, CREATE_LEDGER);
    assert.equal(rest.status, 403);
    assert.equal(restError(rest).type, 'MissingAuthenticationTokenException');
    assertNothingExecuted();
  });

  test('malformed Authorization header is rejected', async () => {
    const headers = await signRequest(t.url, INCREMENT, { credentials: ROOT, service: 'kms' });
    const cases: Array<[string, RegExp]> = [
      [
        'AWS4-HMAC-SHA256 SignedHeaders=host',
        /^Authorization header requires 'Credential' parameter\. Authorization header requires 'Signature' parameter\.$/,
      ],
      [
        'AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/kms/aws4_request, SignedHeaders=host, garbage',
        /^'garbage' not a valid key=value pair \(missing equal-sign\) in Authorization header: 'AWS4-HMAC-SHA256 /,
      ],
      ['AWS4-HMAC-SHA512 Credential=x', /^Unsupported Authorization algorithm 'AWS4-HMAC-SHA512'/],
      [
        'AWS4-HMAC-SHA256 Credential=AKID/2026/us-east-1, SignedHeaders=host, Signature=00',
        /^Credential 'AKID\/2026\/us-east-1' is malformed; expected /,
      ],
      [
        headers.authorization!.replace('aws4_request', 'aws5_request'),
        /^Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'\.$/,
      ],
    ];
    for (const [authorization, message] of cases) {
      const response = await sendRaw(t.url, {
        ...INCREMENT,
        headers: { ...headers, authorization },
      });
      assert.equal(response.status, 400, authorization);
      const error = jsonError(response);
      assert.equal(error.type, 'IncompleteSignatureException', authorization);
      assert.match(error.message, message);
    }

    const noDate = { ...headers };
    delete noDate['x-amz-date'];
    const response = await sendRaw(t.url, { ...INCREMENT, headers: noDate });
    assert.equal(jsonError(response).type, 'IncompleteSignatureException');
    assert.equal(
      jsonError(response).message,
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    );
    assertNothingExecuted();
  });

  test('changed body is rejected', async () => {
    const withHash = await signRequest(t.url, INCREMENT, { credentials: ROOT, service: 'kms' });
    const changed = '{"By":1000}';
    const sdkStyle = await sendRaw(t.url, {
      ...INCREMENT,
      body: changed,
      headers: { ...withHash, 'content-length': String(changed.length) },
    });
    assert.equal(sdkStyle.status, 400);
    assert.deepEqual(jsonError(sdkStyle), {
      type: 'InvalidSignatureException',
      message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
    });

    // The CLI sends no payload hash header and signs no Content-Length.
    const cliHeaders = await signRequest(
      t.url,
      { ...QUERY, headers: { ...QUERY.headers } },
      { credentials: ROOT, service: 'iam', payloadHash: false },
    );
    delete cliHeaders['content-length'];
    const cliStyle = await sendRaw(t.url, {
      ...QUERY,
      body: QUERY.body.replace('v1', 'v2'),
      headers: cliHeaders,
    });
    assert.equal(cliStyle.status, 403);
    assert.equal(xmlError(cliStyle).code, 'SignatureDoesNotMatch');
    assert.equal(xmlError(cliStyle).message, MISMATCH);
    assertNothingExecuted();
  });

  test('changed signed header is rejected', async () => {
    const headers = await signRequest(t.url, INCREMENT, { credentials: ROOT, service: 'kms' });
    const response = await sendRaw(t.url, {
      ...INCREMENT,
      headers: { ...headers, 'x-amz-target': 'CounterService.Get' },
    });
    assert.equal(response.status, 400);
    assert.deepEqual(jsonError(response), { type: 'InvalidSignatureException', message: MISMATCH });

    const unsignedChange = await sendRaw(t.url, {
      ...INCREMENT,
      headers: { ...headers, 'user-agent': 'something else' },
    });
    assert.equal(unsignedChange.status, 200, 'an unsigned header may change');
    t.counter.count = 0;
    assertNothingExecuted();
  });

  test('session tokens must match and be current', async () => {
    const temporary = {
      accessKeyId: 'ASIATEMPORARY0000001',
      secretAccessKey: 'temporary-secret',
      sessionToken: 'the-session-token',
    };
    t.credentials.add({ ...temporary, expiresAt: Date.now() + 60_000 });
    const expired = {
      accessKeyId: 'ASIAEXPIRED000000001',
      secretAccessKey: 'expired-secret',
      sessionToken: 'old-token',
    };
    t.credentials.add({ ...expired, expiresAt: Date.now() - 1000 });
    const invalid = 'The security token included in the request is invalid.';

    const missing = await sendSigned(t.url, INCREMENT, {
      credentials: {
        accessKeyId: temporary.accessKeyId,
        secretAccessKey: temporary.secretAccessKey,
      },
      service: 'kms',
    });
    assert.equal(missing.status, 400);
    assert.deepEqual(jsonError(missing), { type: 'UnrecognizedClientException', message: invalid });

    const wrong = await sendSigned(t.url, QUERY, {
      credentials: { ...temporary, sessionToken: 'another-token' },
      service: 'iam',
    });
    assert.equal(wrong.status, 403);
    assert.equal(xmlError(wrong).code, 'InvalidClientTokenId');

    const old = await sendSigned(t.url, INCREMENT, { credentials: expired, service: 'kms' });
    assert.equal(old.status, 400);
    assert.deepEqual(jsonError(old), {
      type: 'ExpiredTokenException',
      message: 'The security token included in the request is expired',
    });

    const oldQuery = await sendSigned(t.url, QUERY, { credentials: expired, service: 'iam' });
    assert.equal(xmlError(oldQuery).code, 'ExpiredToken');

    const tokenOnPermanentKey = await sendSigned(t.url, INCREMENT, {
      credentials: { ...ROOT, sessionToken: 'unexpected' },
      service: 'kms',
    });
    assert.equal(jsonError(tokenOnPermanentKey).type, 'UnrecognizedClientException');
    assertNothingExecuted();

    const good = await sendSigned(t.url, INCREMENT, { credentials: temporary, service: 'kms' });
    assert.equal(good.status, 200, good.body);
    t.counter.count = 0;
  });

  test('unknown targets and paths still need a signature', async () => {
    const unknown = await sendRaw(t.url, {
      ...INCREMENT,
      headers: { ...JSON_HEADERS, 'x-amz-target': 'NoSuchService.Op' },
    });
    assert.equal(jsonError(unknown).type, 'MissingAuthenticationTokenException');

    const path = await sendRaw(t.url, { method: 'GET', path: '/nothing-here' });
    assert.equal(path.status, 403);
    assert.equal(path.headers['x-amzn-errortype'], 'MissingAuthenticationTokenException');
  });
});

describe('SigV4 regions', () => {
  test('global services accept us-east-1 scopes', async () => {
    const t = await startTestServer({ region: 'eu-west-2' });
    try {
      const iam = await sendSigned(t.url, QUERY, {
        credentials: ROOT,
        service: 'iam',
        region: 'us-east-1',
      });
      assert.equal(iam.status, 200, iam.body);

      const regional = await sendSigned(t.url, INCREMENT, {
        credentials: ROOT,
        service: 'kms',
        region: 'eu-west-2',
      });
      assert.equal(regional.status, 200, regional.body);

      const wrongRegion = await sendSigned(t.url, INCREMENT, {
        credentials: ROOT,
        service: 'kms',
        region: 'us-east-1',
      });
      assert.equal(wrongRegion.status, 400);
      assert.match(jsonError(wrongRegion).message, /serves 'eu-west-2'.*signed for 'us-east-1'/);
    } finally {
      await t.close();
    }
  });
});

describe('SigV4 Date header', () => {
  test('Date signs when X-Amz-Date is absent', async () => {
    const t = await startTestServer();
    try {
      // Sign by hand, since the SDK signer always adds X-Amz-Date.
      const now = new Date();
      const longDate = now
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
      const scopeDate = longDate.slice(0, 8);
      const host = new URL(t.url).host;
      const body = '{"By":2}';
      const headers: Record<string, string> = {
        'content-type': 'application/x-amz-json-1.1',
        date: now.toUTCString(),
        host,
        'x-amz-target': 'CounterService.Increment',
      };
      const names = Object.keys(headers).sort();
      const canonical = [
        'POST',
        '/',
        '',
        ...names.map((name) => `${name}:${headers[name]}`),
        '',
        names.join(';'),
        createHash('sha256').update(body).digest('hex'),
      ].join('\n');
      const scope = `${scopeDate}/us-east-1/kms/aws4_request`;
      const stringToSign = [
        'AWS4-HMAC-SHA256',
        longDate,
        scope,
        createHash('sha256').update(canonical).digest('hex'),
      ].join('\n');
      let key: Buffer = Buffer.from(`AWS4${ROOT.secretAccessKey}`);
      for (const part of [scopeDate, 'us-east-1', 'kms', 'aws4_request']) {
        key = createHmac('sha256', key).update(part).digest();
      }
      const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
      const authorization =
        `AWS4-HMAC-SHA256 Credential=${ROOT.accessKeyId}/${scope}, ` +
        `SignedHeaders=${names.join(';')}, Signature=${signature}`;

      const response = await sendRaw(t.url, {
        path: '/',
        headers: { ...headers, authorization },
        body,
      });
      assert.equal(response.status, 200, response.body);
      assert.equal(t.counter.count, 2);

      const unsignedDate = await sendRaw(t.url, {
        path: '/',
        headers: {
          ...headers,
          authorization: authorization.replace(
            `SignedHeaders=${names.join(';')}`,
            'SignedHeaders=content-type;host;x-amz-target',
          ),
        },
        body,
      });
      assert.equal(unsignedDate.status, 400);
      assert.equal(jsonError(unsignedDate).type, 'IncompleteSignatureException');
      assert.equal(t.counter.count, 2);
    } finally {
      await t.close();
    }
  });
});
