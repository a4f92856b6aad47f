import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeBase62, isId, newDocumentId, newId } from '../../../src/engine/ids.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Encode with BigInt, the plain definition, as a reference. */
function reference(bytes: Uint8Array): string {
  let value = BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
  let text = '';
  for (let i = 0; i < 22; i++) {
    text = ALPHABET[Number(value % 62n)]! + text;
    value /= 62n;
  }
  return text;
}

test('base62 matches the reference', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      assert.equal(encodeBase62(bytes), reference(bytes));
    }),
    { numRuns: 2000 },
  );
  assert.equal(encodeBase62(new Uint8Array(16)), '0'.repeat(22));
  assert.equal(encodeBase62(new Uint8Array(16).fill(255)), reference(new Uint8Array(16).fill(255)));
});

test('base62 keeps numeric order', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      (a, b) => {
        const byBytes = Buffer.compare(Buffer.from(a), Buffer.from(b));
        const byText =
          encodeBase62(a) < encodeBase62(b) ? -1 : encodeBase62(a) > encodeBase62(b) ? 1 : 0;
        assert.equal(byText, byBytes);
      },
    ),
  );
});

test('ids have the QLDB form', () => {
  for (const id of [newId(), newDocumentId()]) assert.ok(isId(id), id);
  assert.equal(new Set(Array.from({ length: 1000 }, newId)).size, 1000);
});

test('document ids sort by time', () => {
  const earlier = newDocumentId(1_700_000_000_000);
  const later = newDocumentId(1_700_000_000_001);
  assert.ok(earlier < later, `${earlier} should sort before ${later}`);
});
