import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeBlockWrites,
  encodeBlockWrites,
} from '../../../src/storage/sqlite/block-write-codec.js';
import type { BlockWrite } from '../../../src/storage/store.js';

const bytes = fc.uint8Array({ maxLength: 64 });
const text = fc.string({ unit: 'binary', maxLength: 30 });
const entry = fc.record({
  indexId: text,
  keyMac: bytes,
  generation: fc.integer({ min: 0, max: 0xffff_ffff }),
});

const blockWrite: fc.Arbitrary<BlockWrite> = fc.record({
  seq: fc.nat(),
  txId: text,
  time: fc.nat(),
  blockHash: bytes,
  entriesHash: bytes,
  previousHash: bytes,
  body: bytes,
  revisions: fc.array(
    fc.record({
      docId: text,
      version: fc.nat(),
      tableId: text,
      blockSeq: fc.nat(),
      txTime: fc.nat(),
      txId: text,
      hash: bytes,
      payload: bytes,
      deleted: fc.boolean(),
      indexEntries: fc.array(entry, { maxLength: 3 }),
    }),
    { maxLength: 3 },
  ),
  catalog: fc.array(
    fc.record({
      objectId: text,
      kind: fc.constantFrom('table' as const, 'index' as const),
      blockSeq: fc.nat(),
      payload: bytes,
    }),
    { maxLength: 2 },
  ),
  merkleNodes: fc.array(
    fc.record({ level: fc.integer({ min: 1, max: 60 }), index: fc.nat(), hash: bytes }),
    {
      maxLength: 3,
    },
  ),
  indexAdds: fc.array(fc.record({ docId: text, entry }), { maxLength: 2 }),
  removedEntries: fc.array(entry, { maxLength: 3 }),
});

/** Byte arrays compared by content, whatever their class. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
  }
  return value;
}

test('block writes round-trip', () => {
  fc.assert(
    fc.property(fc.array(blockWrite, { maxLength: 4 }), (blocks) => {
      assert.deepEqual(plain(decodeBlockWrites(encodeBlockWrites(blocks))), plain(blocks));
    }),
    { numRuns: 300 },
  );
});

test('truncated buffer is rejected', () => {
  fc.assert(
    fc.property(fc.array(blockWrite, { minLength: 1, maxLength: 2 }), fc.nat(), (blocks, cut) => {
      const encoded = encodeBlockWrites(blocks);
      const length = cut % encoded.length;
      assert.throws(() => decodeBlockWrites(encoded.subarray(0, length)), RangeError);
    }),
    { numRuns: 200 },
  );
});

test('trailing bytes are rejected', () => {
  const encoded = encodeBlockWrites([]);
  const padded = new Uint8Array([...encoded, 0]);
  assert.throws(() => decodeBlockWrites(padded), /1 trailing bytes/);
});
