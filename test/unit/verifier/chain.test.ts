import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { dom, dumpText, loadAll } from 'ion-js';

import { treeHash, verifyChain, verifyChainAsync } from '../../../src/verifier/index.js';
import type { BuiltBlock } from './helpers.js';
import {
  Random,
  STRAND,
  assertFails,
  assertFailsAsync,
  blob,
  blockName,
  buildChain,
  flipBit,
  hex,
  ion,
  refDot,
  refTreeHash,
  withField,
  withPath,
} from './helpers.js';

const chain = buildChain(12, new Random(12));
const values = chain.map((block) => block.value);
const rootOf = (count: number): Uint8Array =>
  refTreeHash(chain.slice(0, count).map((b) => b.blockHash));

/** Replaces previousBlockHash and recomputes blockHash, so the block passes on its own. */
function relink(block: BuiltBlock, previousBlockHash: Uint8Array): dom.Value {
  const entriesHash = (block.value.get('entriesHash') as dom.Value).uInt8ArrayValue() as Uint8Array;
  const value = withField(block.value, 'previousBlockHash', blob(previousBlockHash));
  return withField(
    value,
    'blockHash',
    blob(refDot(new Uint8Array(entriesHash), previousBlockHash)),
  );
}

async function* asAsync<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) {
    await Promise.resolve();
    yield item;
  }
}

describe('verifyChain', () => {
  test('accepts chains of 1 to 9 blocks', () => {
    const random = new Random(3);
    for (const size of [1, 2, 3, 4, 5, 7, 8, 9]) {
      const blocks = buildChain(size, random);
      const hashes = blocks.map((block) => block.blockHash);
      const summary = verifyChain(blocks.map((block) => block.value));
      assert.equal(summary.blocks, size);
      assert.deepEqual(summary.tipAddress, { strandId: STRAND, sequenceNo: size - 1 });
      assert.deepEqual(summary.tipHash, hashes[size - 1]);
      assert.equal(hex(summary.digest), hex(refTreeHash(hashes)));
      assert.deepEqual(summary.digest, treeHash(hashes));
    }
  });

  test('accepts text, binary and a loaded journal export', () => {
    const exportText = values.map((value) => dumpText(value)).join('\n');
    const summary = verifyChain(loadAll(exportText));
    assert.equal(summary.blocks, 12);
    verifyChain(values.map((value) => dumpText(value)));
  });

  test('checks a matching digest', () => {
    const summary = verifyChain(values, { digest: rootOf(12) });
    assert.deepEqual(summary.digest, rootOf(12));
  });

  test('checks a digest at an earlier tip', () => {
    const tipAddress = { strandId: STRAND, sequenceNo: 6 };
    const summary = verifyChain(values, { digest: rootOf(7), tipAddress });
    assert.equal(summary.blocks, 12);
    verifyChain(values, {
      digest: rootOf(7),
      tipAddress: `{strandId: "${STRAND}", sequenceNo: 6}`,
    });
  });

  test('rejects a wrong digest', () => {
    const error = assertFails(
      () => verifyChain(values, { digest: flipBit(rootOf(12), 5) }),
      'DIGEST_MISMATCH',
      'over blocks 0 to 11',
    );
    assert.deepEqual(error.actual, rootOf(12));
    assertFails(
      () =>
        verifyChain(values, {
          digest: rootOf(12),
          tipAddress: { strandId: STRAND, sequenceNo: 6 },
        }),
      'DIGEST_MISMATCH',
      'over blocks 0 to 6',
    );
  });

  test('rejects a chain that ends before the tip', () => {
    assertFails(
      () =>
        verifyChain(values.slice(0, 5), {
          digest: rootOf(12),
          tipAddress: { strandId: STRAND, sequenceNo: 11 },
        }),
      'BLOCK_ADDRESS_MISMATCH',
      'comes before the digest tip',
    );
    assertFails(
      () => verifyChain(values, { tipAddress: { strandId: 'other', sequenceNo: 3 } }),
      'BLOCK_ADDRESS_MISMATCH',
      blockName(chain[0]!.address),
    );
  });

  test('rejects a broken link at the first bad block', () => {
    for (const index of [1, 5, 11]) {
      const tampered = [...values];
      tampered[index] = relink(chain[index]!, new Random(index).bytes(32));
      const error = assertFails(
        () => verifyChain(tampered),
        'CHAIN_BROKEN',
        blockName(chain[index]!.address),
        `does not match blockHash ${hex(chain[index - 1]!.blockHash)}`,
      );
      assert.equal(error.blockAddress?.sequenceNo, index);
    }
  });

  test('rejects a dropped, repeated or swapped block', () => {
    const dropped = values.filter((_, index) => index !== 4);
    assertFails(
      () => verifyChain(dropped),
      'CHAIN_BROKEN',
      blockName(chain[5]!.address),
      'expected sequenceNo 4',
    );
    const repeated = [...values.slice(0, 4), values[3]!, ...values.slice(4)];
    assertFails(() => verifyChain(repeated), 'CHAIN_BROKEN', 'expected sequenceNo 4', 'got 3');
    const swapped = [...values];
    [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
    assertFails(
      () => verifyChain(swapped),
      'CHAIN_BROKEN',
      blockName(chain[3]!.address),
      'expected sequenceNo 2',
    );
  });

  test('rejects a chain that does not start at 0', () => {
    assertFails(
      () => verifyChain(values.slice(1)),
      'CHAIN_BROKEN',
      blockName(chain[1]!.address),
      'expected the chain to start at sequenceNo 0, got 1',
    );
  });

  test('rejects a change of strand', () => {
    // blockAddress is outside the hashes, so the moved block still passes on its own.
    const block = chain[3]!;
    let moved = withPath(block.value, ['blockAddress', 'strandId'], ion('other'));
    const revisions = moved.get('revisions');
    if (revisions !== null) {
      moved = withField(
        moved,
        'revisions',
        new dom.List(
          revisions
            .elements()
            .map((revision) => withPath(revision, ['blockAddress', 'strandId'], ion('other'))),
        ),
      );
    }
    const tampered = [...values];
    tampered[3] = moved;
    assertFails(() => verifyChain(tampered), 'CHAIN_BROKEN', 'sequenceNo: 3', 'expected strandId');
  });

  test('names the first block with tampered content', () => {
    const tampered = [...values];
    tampered[7] = withField(chain[7]!.value, 'blockHash', blob(flipBit(chain[7]!.blockHash, 0)));
    tampered[9] = withField(chain[9]!.value, 'blockHash', blob(flipBit(chain[9]!.blockHash, 0)));
    assertFails(() => verifyChain(tampered), 'BLOCK_HASH_MISMATCH', blockName(chain[7]!.address));
  });

  test('names the position of a block without an address', () => {
    const tampered = [...values.slice(0, 3), '{}', ...values.slice(4)];
    assertFails(
      () => verifyChain(tampered),
      'MALFORMED_BLOCK',
      'block at chain position 3: blockAddress: missing field',
    );
  });

  test('rejects an empty chain', () => {
    assertFails(() => verifyChain([]), 'EMPTY_CHAIN', 'expected at least 1 block, got 0');
  });

  test('rejects sources that are not block iterables', () => {
    assert.throws(() => verifyChain(dumpText(values[0]!) as unknown as string[]), {
      name: 'TypeError',
      message: /^blocks: expected an iterable of blocks, got string\. Split a journal export/,
    });
    assert.throws(() => verifyChain(new Uint8Array(4) as unknown as string[]), {
      name: 'TypeError',
    });
    assert.throws(() => verifyChain(null as unknown as string[]), { name: 'TypeError' });
    assert.throws(() => verifyChain([5 as unknown as string]), {
      name: 'TypeError',
      message: 'blocks[0]: expected Ion text, binary Ion or an ion-js dom value, got number',
    });
    assert.throws(() => verifyChain(values, { digest: new Uint8Array(3) }), {
      name: 'RangeError',
      message: 'digest: expected 32 bytes, got 3',
    });
  });
});

describe('verifyChainAsync', () => {
  test('accepts an async iterable', async () => {
    const summary = await verifyChainAsync(asAsync(values), { digest: rootOf(12) });
    assert.equal(summary.blocks, 12);
    assert.deepEqual(summary.tipHash, chain[11]!.blockHash);
  });

  test('accepts a plain array', async () => {
    const summary = await verifyChainAsync(values);
    assert.equal(summary.blocks, 12);
  });

  test('rejects a broken link', async () => {
    const tampered = [...values];
    tampered[6] = relink(chain[6]!, chain[4]!.blockHash);
    await assertFailsAsync(
      () => verifyChainAsync(asAsync(tampered)),
      'CHAIN_BROKEN',
      blockName(chain[6]!.address),
    );
  });

  test('rejects an empty source', async () => {
    await assertFailsAsync(() => verifyChainAsync(asAsync([])), 'EMPTY_CHAIN');
  });

  test('rejects a source that is not iterable', async () => {
    await assert.rejects(verifyChainAsync(42 as unknown as string[]), {
      name: 'TypeError',
      message: /^blocks: expected an \(async\) iterable of blocks, got number/,
    });
  });
});
