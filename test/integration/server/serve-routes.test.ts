import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sendSigned } from '../../helpers/signed-request.js';
import { startVellumInstance, type VellumInstance } from '../../helpers/vellum-instance.js';

describe('vellum serve routes', () => {
  let vellum: VellumInstance;

  before(async () => {
    vellum = await startVellumInstance();
  });
  after(async () => {
    await vellum.dispose();
  });

  test('QLDB paths need a qldb signature', async () => {
    const credentials = vellum.rootCredentials;
    const wrongService = await sendSigned(
      vellum.url,
      { method: 'GET', path: '/ledgers' },
      { credentials, service: 'kms' },
    );
    assert.equal(wrongService.status, 403);
    assert.equal(wrongService.headers['x-amzn-errortype'], 'InvalidSignatureException');
    assert.deepEqual(JSON.parse(wrongService.body), {
      Message: "Credential should be scoped to correct service: 'qldb'. ",
    });

    const notServed = await sendSigned(
      vellum.url,
      { method: 'GET', path: '/ledgers/demo' },
      { credentials, service: 'qldb' },
    );
    assert.equal(notServed.status, 404);
    assert.equal(notServed.headers['x-amzn-errortype'], 'UnknownOperationException');
  });

  test('QLDBSession target is not served yet', async () => {
    const response = await sendSigned(
      vellum.url,
      {
        path: '/',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'QLDBSession.SendCommand',
        },
        body: '{"StartSession":{"LedgerName":"demo"}}',
      },
      { credentials: vellum.rootCredentials, service: 'qldb' },
    );
    assert.equal(response.status, 400);
    assert.equal(JSON.parse(response.body).__type, 'UnknownOperationException');
    assert.match(JSON.parse(response.body).message, /known prefixes are TrentService/);
  });
});
