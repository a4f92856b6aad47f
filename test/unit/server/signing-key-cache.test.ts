import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { SigningKeyCache } from '../../../src/server/sigv4/signing-key-cache.js';

function deriveByHand(secret: string, date: string, region: string, service: string): Buffer {
  let key: Buffer = Buffer.from(`AWS4${secret}`);
  for (const part of [date, region, service, 'aws4_request']) {
    key = createHmac('sha256', key).update(part).digest();
  }
  return key;
}

test('signing key matches the SigV4 derivation', async () => {
  const cache = new SigningKeyCache();
  const key = await cache.get('AKID', 'secret', '20261204', 'us-east-1', 'kms');
  assert.deepEqual(Buffer.from(key), deriveByHand('secret', '20261204', 'us-east-1', 'kms'));
});

test('signing key cache reuses and evicts', async () => {
  const cache = new SigningKeyCache(2);
  const first = await cache.get('AKID', 'secret', '20261204', 'us-east-1', 'kms');
  assert.equal(await cache.get('AKID', 'secret', '20261204', 'us-east-1', 'kms'), first);
  assert.equal(cache.size, 1);

  const otherService = await cache.get('AKID', 'secret', '20261204', 'us-east-1', 'qldb');
  assert.notDeepEqual(Buffer.from(otherService), Buffer.from(first));
  await cache.get('AKID', 'secret', '20261205', 'us-east-1', 'kms');
  assert.equal(cache.size, 2, 'the oldest entry was evicted');
  const again = await cache.get('AKID', 'secret', '20261204', 'us-east-1', 'kms');
  assert.deepEqual(Buffer.from(again), Buffer.from(first), 'an evicted key is derived again');
  assert.equal(cache.size, 2);
});

test('signing key cache follows a changed secret', async () => {
  const cache = new SigningKeyCache();
  const old = await cache.get('AKID', 'old-secret', '20261204', 'us-east-1', 'kms');
  const renewed = await cache.get('AKID', 'new-secret', '20261204', 'us-east-1', 'kms');
  assert.notDeepEqual(Buffer.from(renewed), Buffer.from(old));
  assert.deepEqual(
    Buffer.from(renewed),
    deriveByHand('new-secret', '20261204', 'us-east-1', 'kms'),
  );
});
