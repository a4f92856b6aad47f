import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import fc from 'fast-check';

import { sha256 } from '../../../src/engine/ion/sha256.js';

const nodeSha256 = (data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest());

test('sha256 matches node:crypto, lengths 0-300', () => {
  for (let length = 0; length <= 300; length++) {
    const data = Uint8Array.from({ length }, (_, index) => (index * 31 + length) & 0xff);
    assert.deepEqual(sha256(data), nodeSha256(data), `length ${length}`);
  }
});

test('sha256 matches node:crypto on random input', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (data) => {
      assert.deepEqual(sha256(data), nodeSha256(data));
    }),
    { numRuns: 500 },
  );
});

test('sha256 hashes a view, not its whole buffer', () => {
  const buffer = Uint8Array.from({ length: 400 }, (_, index) => index & 0xff);
  for (const [start, end] of [
    [3, 40],
    [10, 390],
  ] as const) {
    const view = buffer.subarray(start, end);
    assert.deepEqual(sha256(view), nodeSha256(buffer.slice(start, end)));
  }
});

test('sha256 returns a new array each call', () => {
  const data = new Uint8Array([1, 2, 3]);
  const first = sha256(data);
  const second = sha256(new Uint8Array([4, 5, 6]));
  assert.notEqual(first.buffer, second.buffer);
  assert.deepEqual(first, nodeSha256(data));
  assert.equal(first.length, 32);
});
