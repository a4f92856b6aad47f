import { test } from 'node:test';
import assert from 'node:assert/strict';

import fc from 'fast-check';

import { dot, merklePathOfList, merkleRootOfList } from '../../../src/engine/ion/index.js';
import { hex, referenceDot, sha256 } from './reference-hashes.js';

/** Returns a 32-byte hash with the given bytes set and the others zero. */
function hashWith(bytes: Record<number, number>): Uint8Array {
  const hash = new Uint8Array(32);
  for (const [index, byte] of Object.entries(bytes)) hash[Number(index)] = byte;
  return hash;
}

/** Computes the pairwise list root by recursion, one tree level per call. */
function referenceRoot(hashes: Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return new Uint8Array(0);
  if (hashes.length === 1) return hashes[0]!;
  const next: Uint8Array[] = [];
  for (let index = 0; index < hashes.length; index += 2) {
    next.push(
      index + 1 < hashes.length ? referenceDot(hashes[index]!, hashes[index + 1]!) : hashes[index]!,
    );
  }
  return referenceRoot(next);
}

const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

test('dot orders by signed bytes', () => {
  // 0xFF is -1 as a signed byte, so b goes first although it is larger unsigned.
  const ones = new Uint8Array(32).fill(0x01);
  const minusOnes = new Uint8Array(32).fill(0xff);
  const expected = 'a7a649638f6253f3ec7aa25336fd9a4c4ea64e8000931434a27373a21c50fac3';
  assert.equal(hex(dot(ones, minusOnes)), expected);
  assert.equal(hex(dot(minusOnes, ones)), expected);
});

test('dot compares from the last byte', () => {
  // Index 31 decides (0x00 < 0x01) although index 0 orders the other way (0x7F > 0x00).
  const a = hashWith({ 0: 0x7f, 31: 0x00 });
  const b = hashWith({ 0: 0x00, 31: 0x01 });
  const expected = '9d8955cee5e5385e498c91ea606955536cf4a0684ed4a9cdb6464f862e6e61de';
  assert.equal(hex(dot(a, b)), expected);
  assert.equal(hex(dot(b, a)), expected);
});

test('dot puts 0x80 before 0x7F', () => {
  const a = hashWith({ 31: 0x80 });
  const b = hashWith({ 31: 0x7f });
  assert.equal(hex(dot(b, a)), '7035948d9d59da9d6ad20d11b3bc4a1e4c386dbe686fcadb095afb6bb462e6e3');
});

test('dot of equal hashes', () => {
  const a = hashWith({ 5: 9 });
  assert.equal(hex(dot(a, a)), hex(sha256(a, a)));
});

test('dot matches reference on random hashes', () => {
  fc.assert(
    fc.property(hash32, hash32, (a, b) => {
      assert.equal(hex(dot(a, b)), hex(referenceDot(a, b)));
    }),
    { numRuns: 500 },
  );
});

test('dot is commutative', () => {
  fc.assert(
    fc.property(hash32, hash32, (a, b) => {
      assert.equal(hex(dot(a, b)), hex(dot(b, a)));
    }),
    { numRuns: 500 },
  );
});

test('dot with empty input returns the other', () => {
  const a = hashWith({ 0: 1 });
  const empty = new Uint8Array(0);
  assert.equal(dot(a, empty), a);
  assert.equal(dot(empty, a), a);
  assert.equal(dot(empty, empty).length, 0);
});

test('dot rejects bad lengths', () => {
  const a = hashWith({ 0: 1 });
  for (const length of [1, 16, 31, 33, 64]) {
    assert.throws(() => dot(a, new Uint8Array(length)), {
      name: 'RangeError',
      message: new RegExp(`received ${length} bytes`),
    });
    assert.throws(() => dot(new Uint8Array(length), a), { name: 'RangeError' });
  }
});

test('dot rejects non-byte arguments', () => {
  const a = hashWith({ 0: 1 });
  assert.throws(() => dot(a, 'abc' as unknown as Uint8Array), { name: 'TypeError' });
  assert.throws(() => dot([1, 2] as unknown as Uint8Array, a), { name: 'TypeError' });
});

test('merkleRootOfList matches reference for 0 to 9 leaves', () => {
  for (let count = 0; count <= 9; count++) {
    const leaves = Array.from({ length: count }, (_, index) => sha256(Uint8Array.of(index)));
    assert.equal(hex(merkleRootOfList(leaves)), hex(referenceRoot(leaves)), `${count} leaves`);
  }
});

test('merkleRootOfList of three leaves', () => {
  const [a, b, c] = [1, 2, 3].map((byte) => sha256(Uint8Array.of(byte))) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  assert.equal(hex(merkleRootOfList([a, b, c])), hex(referenceDot(referenceDot(a, b), c)));
});

test('merkleRootOfList of empty list', () => {
  assert.equal(merkleRootOfList([]).length, 0);
});

test('merklePathOfList folds to root for every index', () => {
  for (let count = 1; count <= 17; count++) {
    const leaves = Array.from({ length: count }, (_, index) => sha256(Uint8Array.of(count, index)));
    const root = hex(referenceRoot(leaves));
    for (let index = 0; index < count; index++) {
      let folded = leaves[index]!;
      for (const sibling of merklePathOfList(leaves, index)) folded = dot(folded, sibling);
      assert.equal(hex(folded), root, `${count} leaves, index ${index}`);
    }
  }
});

test('merklePathOfList skips unpaired levels', () => {
  const leaves = Array.from({ length: 5 }, (_, index) => sha256(Uint8Array.of(index)));
  // Leaf 4 is unpaired on the first two levels and meets the root of leaves 0-3 last.
  const path = merklePathOfList(leaves, 4);
  assert.equal(path.length, 1);
  assert.equal(hex(path[0]!), hex(referenceRoot(leaves.slice(0, 4))));
  assert.equal(merklePathOfList(leaves, 0).length, 3);
  assert.deepEqual(merklePathOfList([leaves[0]!], 0), []);
});

test('merklePathOfList rejects bad index', () => {
  const leaves = [sha256(Uint8Array.of(1)), sha256(Uint8Array.of(2))];
  for (const index of [-1, 2, 0.5, NaN]) {
    assert.throws(() => merklePathOfList(leaves, index), { name: 'RangeError' });
  }
  assert.throws(() => merklePathOfList([], 0), { name: 'RangeError' });
  assert.throws(() => merklePathOfList(leaves, '0' as unknown as number), { name: 'TypeError' });
});

test('merkle functions reject bad hashes', () => {
  assert.throws(() => merkleRootOfList([new Uint8Array(31)]), {
    name: 'RangeError',
    message: /hashes\[0\].*received 31 bytes/,
  });
  assert.throws(() => merkleRootOfList('x' as unknown as Uint8Array[]), { name: 'TypeError' });
});
