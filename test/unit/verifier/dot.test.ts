import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import fc from 'fast-check';

import { dot, foldProof, listRoot } from '../../../src/verifier/index.js';
import { Random, hex, refDot, refListRoot, sha256 } from './helpers.js';

function hashWith(entries: Record<number, number>): Uint8Array {
  const hash = new Uint8Array(32);
  for (const [index, value] of Object.entries(entries)) hash[Number(index)] = value;
  return hash;
}

const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('dot', () => {
  test('compares byte 31 as a signed byte', () => {
    const one = hashWith({ 31: 0x01 });
    const minusOne = hashWith({ 31: 0xff });
    // 0xff is -1 as a signed byte, so it sorts first although it is larger unsigned.
    assert.deepEqual(dot(one, minusOne), sha256(minusOne, one));
    assert.deepEqual(dot(minusOne, one), sha256(minusOne, one));
  });

  test('lets the last differing byte decide', () => {
    const a = hashWith({ 0: 0x7f, 31: 0x10 });
    const b = hashWith({ 0: 0x00, 31: 0x20 });
    assert.deepEqual(dot(a, b), sha256(a, b));
    const c = hashWith({ 5: 0x80 });
    const d = hashWith({ 5: 0x7f });
    // 0x80 is -128, the smallest signed byte.
    assert.deepEqual(dot(d, c), sha256(c, d));
  });

  test('hashes equal inputs once each', () => {
    const a = new Random(7).bytes(32);
    assert.deepEqual(dot(a, a), sha256(a, a));
  });

  test('treats an empty hash as identity', () => {
    const a = new Random(8).bytes(32);
    assert.deepEqual(dot(a, new Uint8Array(0)), a);
    assert.deepEqual(dot(new Uint8Array(0), a), a);
    assert.deepEqual(dot(new Uint8Array(0), new Uint8Array(0)), new Uint8Array(0));
  });

  test('returns a copy for an empty operand', () => {
    const a = new Random(9).bytes(32);
    const result = dot(a, new Uint8Array(0));
    result[0] = (result[0] as number) ^ 1;
    assert.notDeepEqual(result, a);
  });

  test('returns a plain Uint8Array for Buffer input', () => {
    const result = dot(Buffer.alloc(32, 1), Buffer.alloc(32, 2));
    assert.equal(Object.getPrototypeOf(result), Uint8Array.prototype);
  });

  test('matches the reference and commutes', () => {
    fc.assert(
      fc.property(hash32, hash32, (a, b) => {
        assert.equal(hex(dot(a, b)), hex(refDot(a, b)));
        assert.equal(hex(dot(a, b)), hex(dot(b, a)));
      }),
      { numRuns: 300 },
    );
  });

  test('rejects wrong types and lengths', () => {
    const good = new Uint8Array(32);
    assert.throws(() => dot('abc' as unknown as Uint8Array, good), {
      name: 'TypeError',
      message: 'a: expected Uint8Array, got string',
    });
    assert.throws(() => dot(good, [1, 2] as unknown as Uint8Array), {
      name: 'TypeError',
      message: 'b: expected Uint8Array, got array',
    });
    assert.throws(() => dot(new Uint8Array(31), good), {
      name: 'RangeError',
      message: 'a: expected 0 or 32 bytes, got 31',
    });
    assert.throws(() => dot(good, new Uint8Array(33)), {
      name: 'RangeError',
      message: 'b: expected 0 or 32 bytes, got 33',
    });
  });
});

describe('listRoot', () => {
  test('returns empty bytes for no hashes', () => {
    assert.deepEqual(listRoot([]), new Uint8Array(0));
  });

  test('returns a single hash unchanged', () => {
    const [a] = new Random(1).hashes(1) as [Uint8Array];
    assert.deepEqual(listRoot([a]), a);
  });

  test('moves an unpaired last element up', () => {
    const [a, b, c, d, e] = new Random(2).hashes(5) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    assert.deepEqual(listRoot([a, b, c]), refDot(refDot(a, b), c));
    assert.deepEqual(listRoot([a, b, c, d, e]), refDot(refDot(refDot(a, b), refDot(c, d)), e));
  });

  test('matches the reference for 0 to 40 hashes', () => {
    const random = new Random(3);
    for (let count = 0; count <= 40; count++) {
      const hashes = random.hashes(count);
      assert.equal(hex(listRoot(hashes)), hex(refListRoot(hashes)), `count ${count}`);
    }
  });

  test('rejects non-arrays and wrong lengths', () => {
    assert.throws(() => listRoot('x' as unknown as Uint8Array[]), {
      name: 'TypeError',
      message: 'hashes: expected an array of Uint8Array, got string',
    });
    assert.throws(() => listRoot([new Uint8Array(32), new Uint8Array(0)]), {
      name: 'RangeError',
      message: 'hashes[1]: expected 32 bytes, got 0',
    });
    assert.throws(() => listRoot([null as unknown as Uint8Array]), {
      name: 'TypeError',
      message: 'hashes[0]: expected Uint8Array, got null',
    });
  });
});

describe('foldProof', () => {
  test('returns the leaf for an empty proof', () => {
    const leaf = new Random(4).bytes(32);
    assert.deepEqual(foldProof(leaf, []), leaf);
  });

  test('combines from the leaf upward', () => {
    const [leaf, p0, p1, p2] = new Random(5).hashes(4) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    assert.deepEqual(foldProof(leaf, [p0, p1, p2]), refDot(refDot(refDot(leaf, p0), p1), p2));
  });

  test('rejects an empty leaf and bad elements', () => {
    assert.throws(() => foldProof(new Uint8Array(0), []), {
      name: 'RangeError',
      message: 'leaf: expected 32 bytes, got 0',
    });
    assert.throws(() => foldProof(new Uint8Array(32), [new Uint8Array(16)]), {
      name: 'RangeError',
      message: 'proof[0]: expected 32 bytes, got 16',
    });
    assert.throws(
      () => foldProof(new Uint8Array(32), new Uint8Array(32) as unknown as Uint8Array[]),
      {
        name: 'TypeError',
        message: 'proof: expected an array of Uint8Array, got Uint8Array',
      },
    );
  });
});
