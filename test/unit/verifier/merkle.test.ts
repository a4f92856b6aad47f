import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import fc from 'fast-check';

import {
  listRoot,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '../../../src/verifier/index.js';
import {
  Random,
  assertFails,
  flipBit,
  flipInList,
  hex,
  refAuditPath,
  refConsistencyProof,
  refDot,
  refTreeHash,
} from './helpers.js';

const bigLeaves = new Random(1000).hashes(1000);
const bigRoot = refTreeHash(bigLeaves);

/** Roots of every prefix of `leaves`, by the reference MTH. */
function prefixRoots(leaves: Uint8Array[]): Uint8Array[] {
  return leaves.map((_, index) => refTreeHash(leaves.slice(0, index + 1)));
}

/** Audit path length by the closed form: bits of index ^ (size - 1), plus the border ones. */
function bigIntInclusionLength(index: bigint, size: bigint): number {
  const inner = (index ^ (size - 1n)).toString(2).replace(/^0+/, '').length;
  const border = (index >> BigInt(inner)).toString(2).replace(/0/g, '').length;
  return inner + border;
}

describe('treeHash', () => {
  test('returns the leaf of a one-leaf tree', () => {
    const leaf = new Random(1).bytes(32);
    assert.deepEqual(treeHash([leaf]), leaf);
  });

  test('follows the RFC 9162 shape for small trees', () => {
    const [a, b, c] = new Random(2).hashes(3) as [Uint8Array, Uint8Array, Uint8Array];
    assert.deepEqual(treeHash([a, b]), refDot(a, b));
    // MTH(D[3]) = node(MTH(D[0:2]), MTH(D[2:3])).
    assert.deepEqual(treeHash([a, b, c]), refDot(refDot(a, b), c));
  });

  test('equals the list root for 1 to 70 leaves', () => {
    // Splitting at the largest power of two below n gives the same tree as pairing bottom-up
    // and moving an unpaired last node up, so both roots agree.
    const leaves = new Random(30).hashes(70);
    for (let size = 1; size <= 70; size++) {
      const tree = leaves.slice(0, size);
      assert.equal(hex(treeHash(tree)), hex(listRoot(tree)), `size ${size}`);
    }
  });

  test('matches the reference for 1 to 70 leaves', () => {
    const leaves = new Random(3).hashes(70);
    for (let size = 1; size <= 70; size++) {
      const expected = refTreeHash(leaves.slice(0, size));
      assert.equal(hex(treeHash(leaves.slice(0, size))), hex(expected), `size ${size}`);
    }
  });

  test('matches the reference for 1000 leaves', () => {
    assert.equal(hex(treeHash(bigLeaves)), hex(bigRoot));
  });

  test('rejects an empty tree and bad leaves', () => {
    assert.throws(() => treeHash([]), {
      name: 'RangeError',
      message: 'expected at least 1 leaf, got 0',
    });
    assert.throws(() => treeHash([new Uint8Array(32), new Uint8Array(31)]), {
      name: 'RangeError',
      message: 'leaves[1]: expected 32 bytes, got 31',
    });
    assert.throws(() => treeHash(undefined as unknown as Uint8Array[]), {
      name: 'TypeError',
      message: 'leaves: expected an array of Uint8Array, got undefined',
    });
  });
});

describe('verifyInclusion', () => {
  test('accepts every leaf of trees up to 40 leaves', () => {
    const leaves = new Random(4).hashes(40);
    for (let size = 1; size <= 40; size++) {
      const tree = leaves.slice(0, size);
      const root = refTreeHash(tree);
      for (let index = 0; index < size; index++) {
        verifyInclusion(index, size, tree[index]!, refAuditPath(index, tree), root);
      }
    }
  });

  test('accepts random leaves of a 1000-leaf tree', () => {
    const random = new Random(5);
    for (const index of [
      0,
      511,
      512,
      998,
      999,
      ...Array.from({ length: 20 }, () => random.int(1000)),
    ]) {
      verifyInclusion(index, 1000, bigLeaves[index]!, refAuditPath(index, bigLeaves), bigRoot);
    }
  });

  test('rejects any single flipped bit in the path', () => {
    const index = 437;
    const path = refAuditPath(index, bigLeaves);
    fc.assert(
      fc.property(fc.nat(path.length - 1), fc.nat(255), (element, bit) => {
        assertFails(
          () =>
            verifyInclusion(
              index,
              1000,
              bigLeaves[index]!,
              flipInList(path, element, bit),
              bigRoot,
            ),
          'PROOF_MISMATCH',
          'inclusion proof for leaf 437 in a tree of 1000',
        );
      }),
      { numRuns: 100 },
    );
  });

  test('rejects a flipped leaf or root', () => {
    const path = refAuditPath(3, bigLeaves);
    const error = assertFails(
      () => verifyInclusion(3, 1000, flipBit(bigLeaves[3]!, 0), path, bigRoot),
      'PROOF_MISMATCH',
      `expected root ${hex(bigRoot)}`,
    );
    assert.deepEqual(error.expected, bigRoot);
    assertFails(
      () => verifyInclusion(3, 1000, bigLeaves[3]!, path, flipBit(bigRoot, 255)),
      'PROOF_MISMATCH',
    );
  });

  test('rejects a reordered path', () => {
    const path = refAuditPath(600, bigLeaves);
    assertFails(
      () => verifyInclusion(600, 1000, bigLeaves[600]!, [...path].reverse(), bigRoot),
      'PROOF_MISMATCH',
    );
  });

  test('rejects a dropped or extra element', () => {
    const path = refAuditPath(10, bigLeaves);
    assertFails(
      () => verifyInclusion(10, 1000, bigLeaves[10]!, path.slice(0, -1), bigRoot),
      'MALFORMED_PROOF',
      `expected ${path.length} hashes in the proof, got ${path.length - 1}`,
    );
    assertFails(
      () => verifyInclusion(10, 1000, bigLeaves[10]!, [...path, bigRoot], bigRoot),
      'MALFORMED_PROOF',
      `got ${path.length + 1}`,
    );
    assertFails(
      () => verifyInclusion(0, 1, bigLeaves[0]!, [bigLeaves[1]!], bigLeaves[0]!),
      'MALFORMED_PROOF',
      'expected 0 hashes in the proof, got 1',
    );
  });

  test('rejects an index outside the tree', () => {
    assertFails(
      () => verifyInclusion(5, 5, bigLeaves[0]!, [], bigRoot),
      'INVALID_TREE_SIZE',
      'leaf 5 in a tree of 5',
    );
    assertFails(() => verifyInclusion(0, 0, bigLeaves[0]!, [], bigRoot), 'INVALID_TREE_SIZE');
  });

  test('rejects path elements of the wrong length', () => {
    const path = refAuditPath(10, bigLeaves);
    path[2] = new Uint8Array(31);
    assertFails(
      () => verifyInclusion(10, 1000, bigLeaves[10]!, path, bigRoot),
      'MALFORMED_PROOF',
      'proof element 2: expected 32 bytes, got 31 bytes',
    );
    assertFails(
      () => verifyInclusion(10, 1000, bigLeaves[10]!, ['x' as unknown as Uint8Array], bigRoot),
      'MALFORMED_PROOF',
      'proof element 0: expected 32 bytes, got string',
    );
  });

  test('rejects wrong argument types', () => {
    const leaf = bigLeaves[0]!;
    assert.throws(() => verifyInclusion(1.5, 4, leaf, [], bigRoot), {
      name: 'TypeError',
      message: 'index: expected a non-negative integer, got 1.5',
    });
    assert.throws(() => verifyInclusion('1' as unknown as number, 4, leaf, [], bigRoot), {
      name: 'TypeError',
      message: 'index: expected a non-negative integer, got string',
    });
    assert.throws(() => verifyInclusion(-1, 4, leaf, [], bigRoot), {
      name: 'RangeError',
      message: 'index: expected an integer from 0 to 9007199254740991, got -1',
    });
    assert.throws(() => verifyInclusion(0, 2 ** 53, leaf, [], bigRoot), { name: 'RangeError' });
    assert.throws(() => verifyInclusion(0, 4, leaf.subarray(1), [], bigRoot), {
      name: 'RangeError',
      message: 'leaf: expected 32 bytes, got 31',
    });
    assert.throws(() => verifyInclusion(0, 4, leaf, {} as unknown as Uint8Array[], bigRoot), {
      name: 'TypeError',
      message: 'proof: expected an array of Uint8Array, got Object',
    });
  });

  test('counts path length beyond 32-bit sizes', () => {
    const random = new Random(6);
    const cases: [number, number][] = [
      [2 ** 40 + 3, 2 ** 41 + 5],
      [2 ** 32, 2 ** 32 + 1],
      [2 ** 52 - 1, 2 ** 52],
      [123_456_789_012, 987_654_321_098],
    ];
    for (const [index, size] of cases) {
      const length = bigIntInclusionLength(BigInt(index), BigInt(size));
      const path = random.hashes(length);
      // A random path of the right length reaches the root check and fails there.
      assertFails(
        () => verifyInclusion(index, size, bigLeaves[0]!, path, bigRoot),
        'PROOF_MISMATCH',
      );
      assertFails(
        () => verifyInclusion(index, size, bigLeaves[0]!, path.slice(1), bigRoot),
        'MALFORMED_PROOF',
        `expected ${length} hashes`,
      );
    }
  });

  test('agrees with the closed-form path length', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.nat(), (size, seed) => {
        const index = seed % size;
        const length = bigIntInclusionLength(BigInt(index), BigInt(size));
        const path = new Random(seed).hashes(length);
        assertFails(
          () => verifyInclusion(index, size, bigLeaves[0]!, path, bigRoot),
          'PROOF_MISMATCH',
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe('verifyConsistency', () => {
  test('accepts every pair in trees up to 33 leaves', () => {
    const leaves = new Random(7).hashes(33);
    const roots = prefixRoots(leaves);
    for (let size2 = 1; size2 <= 33; size2++) {
      const tree = leaves.slice(0, size2);
      for (let size1 = 1; size1 <= size2; size1++) {
        const proof = refConsistencyProof(size1, tree);
        verifyConsistency(size1, size2, roots[size1 - 1]!, roots[size2 - 1]!, proof);
      }
    }
  });

  test('accepts random pairs in trees up to 1000 leaves', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.nat(), (size2, seed) => {
        const size1 = 1 + (seed % size2);
        const tree = bigLeaves.slice(0, size2);
        const root1 = refTreeHash(bigLeaves.slice(0, size1));
        const root2 = size2 === 1000 ? bigRoot : refTreeHash(tree);
        verifyConsistency(size1, size2, root1, root2, refConsistencyProof(size1, tree));
      }),
      { numRuns: 150 },
    );
  });

  test('rejects any single flipped bit in the proof', () => {
    const size1 = 333;
    const root1 = refTreeHash(bigLeaves.slice(0, size1));
    const proof = refConsistencyProof(size1, bigLeaves);
    fc.assert(
      fc.property(fc.nat(proof.length - 1), fc.nat(255), (element, bit) => {
        assertFails(
          () => verifyConsistency(size1, 1000, root1, bigRoot, flipInList(proof, element, bit)),
          'CONSISTENCY_MISMATCH',
          'consistency proof from tree size 333 to 1000',
        );
      }),
      { numRuns: 100 },
    );
  });

  test('reports expected and calculated roots', () => {
    const root1 = refTreeHash(bigLeaves.slice(0, 100));
    const proof = refConsistencyProof(100, bigLeaves);
    const wrongRoot1 = flipBit(root1, 9);
    const first = assertFails(
      () => verifyConsistency(100, 1000, wrongRoot1, bigRoot, proof),
      'CONSISTENCY_MISMATCH',
      `calculated first root ${hex(root1)} does not match expected root ${hex(wrongRoot1)}`,
    );
    assert.deepEqual(first.expected, wrongRoot1);
    assert.deepEqual(first.actual, root1);
    const wrongRoot2 = flipBit(bigRoot, 100);
    assertFails(
      () => verifyConsistency(100, 1000, root1, wrongRoot2, proof),
      'CONSISTENCY_MISMATCH',
      `calculated second root ${hex(bigRoot)} does not match expected root ${hex(wrongRoot2)}`,
    );
  });

  test('rejects a wrong first root when it is a power of two', () => {
    // For size1 = 2^k the proof omits the first root, so only root1 itself can be wrong.
    const proof = refConsistencyProof(256, bigLeaves);
    const root1 = refTreeHash(bigLeaves.slice(0, 256));
    verifyConsistency(256, 1000, root1, bigRoot, proof);
    assertFails(
      () => verifyConsistency(256, 1000, flipBit(root1, 3), bigRoot, proof),
      'CONSISTENCY_MISMATCH',
    );
  });

  test('rejects a reordered, shortened or extended proof', () => {
    const root1 = refTreeHash(bigLeaves.slice(0, 77));
    const proof = refConsistencyProof(77, bigLeaves);
    assertFails(
      () => verifyConsistency(77, 1000, root1, bigRoot, [...proof].reverse()),
      'CONSISTENCY_MISMATCH',
    );
    assertFails(
      () => verifyConsistency(77, 1000, root1, bigRoot, proof.slice(1)),
      'MALFORMED_PROOF',
      `expected ${proof.length} hashes in the proof, got ${proof.length - 1}`,
    );
    assertFails(
      () => verifyConsistency(77, 1000, root1, bigRoot, [...proof, root1]),
      'MALFORMED_PROOF',
      `got ${proof.length + 1}`,
    );
  });

  test('rejects swapped roots', () => {
    const root1 = refTreeHash(bigLeaves.slice(0, 500));
    const proof = refConsistencyProof(500, bigLeaves);
    assertFails(() => verifyConsistency(500, 1000, bigRoot, root1, proof), 'CONSISTENCY_MISMATCH');
  });

  test('handles equal sizes strictly', () => {
    verifyConsistency(1000, 1000, bigRoot, bigRoot, []);
    assertFails(
      () => verifyConsistency(1000, 1000, bigRoot, bigRoot, [bigRoot]),
      'MALFORMED_PROOF',
      'expected 0 hashes in the proof, got 1',
    );
    assertFails(
      () => verifyConsistency(1000, 1000, bigRoot, flipBit(bigRoot, 0), []),
      'CONSISTENCY_MISMATCH',
      'trees of equal size must have equal roots',
    );
  });

  test('rejects impossible tree sizes', () => {
    assertFails(
      () => verifyConsistency(0, 10, bigRoot, bigRoot, []),
      'INVALID_TREE_SIZE',
      'expected a first tree size of 1 or more',
    );
    assertFails(
      () => verifyConsistency(11, 10, bigRoot, bigRoot, []),
      'INVALID_TREE_SIZE',
      'from tree size 11 to 10: expected the first tree size to be at most the second',
    );
  });

  test('rejects proof elements of the wrong length', () => {
    const root1 = refTreeHash(bigLeaves.slice(0, 77));
    const proof = refConsistencyProof(77, bigLeaves);
    proof[1] = new Uint8Array(0);
    assertFails(
      () => verifyConsistency(77, 1000, root1, bigRoot, proof),
      'MALFORMED_PROOF',
      'proof element 1: expected 32 bytes, got 0 bytes',
    );
  });

  test('rejects wrong argument types', () => {
    assert.throws(
      () => verifyConsistency(1, 2, bigRoot, bigRoot, 'proof' as unknown as Uint8Array[]),
      {
        name: 'TypeError',
        message: 'proof: expected an array of Uint8Array, got string',
      },
    );
    assert.throws(() => verifyConsistency(1, 2, bigRoot, new Uint8Array(0), []), {
      name: 'RangeError',
      message: 'root2: expected 32 bytes, got 0',
    });
    assert.throws(() => verifyConsistency(1n as unknown as number, 2, bigRoot, bigRoot, []), {
      name: 'TypeError',
      message: 'size1: expected a non-negative integer, got bigint',
    });
  });
});
