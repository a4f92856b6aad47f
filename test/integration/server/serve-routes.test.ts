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
    for (const path of ['/ledgers', '/ledgers/demo', '/tags/arn%3Aaws%3Aqldb']) {
      const response = await sendSigned(
        vellum.url,
        { method: 'GET', path },
        { credentials, service: 'kms' },
      );
      assert.equal(response.status, 403, path);
      assert.equal(response.headers['x-amzn-errortype'], 'InvalidSignatureException', path);
      assert.equal(
        JSON.parse(response.body).Message,
        "Credential should be scoped to correct service: 'qldb'. ",
        path,
      );
    }

    const unknown = await sendSigned(
      vellum.url,
      { method: 'PUT', path: '/ledgers/demo/no/such/operation' },
      { credentials, service: 'qldb' },
    );
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers['x-amzn-errortype'], 'UnknownOperationException');
  });

  test('unknown target lists the served prefixes', async () => {
    const response = await sendSigned(
      vellum.url,
      {
        path: '/',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': 'NoSuchService.DoThing',
        },
        body: '{}',
      },
      { credentials: vellum.rootCredentials, service: 'kms' },
    );
    assert.equal(response.status, 400);
    const body = JSON.parse(response.body) as { __type: string; message: string };
    assert.equal(body.__type, 'UnknownOperationException');
    assert.match(body.message, /X-Amz-Target 'NoSuchService.DoThing' names no operation/);
    assert.match(body.message, /TrentService/);
  });
});
