// Merkle tree over block hashes with the tree shape of RFC 9162 §2.1.1 but Vellum's hashing:
// a leaf is the block hash itself (no 0x00 prefix) and an interior node is dot(left, right)
// (no 0x01 prefix). The digest at a tip is this tree's root over blocks 0..tip.
//
// Because dot is commutative, swapping the children of a node does not change its hash. The
// inclusion check therefore binds a leaf to its index only through the length of the path.
import { combine } from './dot.js';
import { VerificationError } from './errors.js';
import {
  HASH_LENGTH,
  checkBytes,
  checkSafeInteger,
  copyBytes,
  describeType,
  equalBytes,
  isBytes,
  toHex,
} from './utils.js';

const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

/**
 * Streaming Merkle tree hash: stores the roots of the perfect subtrees that cover the leaves
 * added so far, largest first, so memory grows with log2 of the leaf count.
 */
export class TreeHasher {
  private readonly subtrees: { hash: Uint8Array; size: number }[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Appends a leaf. The caller checks that it is 32 bytes. */
  add(leaf: Uint8Array): void {
    let node = { hash: leaf, size: 1 };
    let last = this.subtrees.at(-1);
    while (last !== undefined && last.size === node.size) {
      this.subtrees.pop();
      node = { hash: combine(last.hash, node.hash), size: node.size * 2 };
      last = this.subtrees.at(-1);
    }
    this.subtrees.push(node);
    this.count += 1;
  }

  /**
   * Returns MTH over the leaves added so far. RFC 9162 §2.1.1 splits n leaves into a perfect
   * left subtree of the largest power of two below n and the rest, so the root joins the stored
   * subtrees from the right: node(S1, node(S2, … node(Sk-1, Sk))).
   */
  root(): Uint8Array {
    let root = this.subtrees.at(-1)?.hash;
    if (root === undefined) throw new RangeError('expected at least 1 leaf, got 0');
    for (let i = this.subtrees.length - 2; i >= 0; i--) {
      root = combine((this.subtrees[i] as { hash: Uint8Array }).hash, root);
    }
    return root;
  }
}

/**
 * Computes the Merkle tree hash MTH(D[n]) of RFC 9162 §2.1.1 with Vellum's hashing. A one-leaf
 * tree's hash is the leaf itself.
 * @param leaves - at least one 32-byte block hash, in block order
 */
export function treeHash(leaves: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(leaves)) {
    throw new TypeError(`leaves: expected an array of Uint8Array, got ${describeType(leaves)}`);
  }
  const hasher = new TreeHasher();
  leaves.forEach((leaf, index) => hasher.add(checkBytes(leaf, `leaves[${index}]`, HASH_LENGTH)));
  return copyBytes(hasher.root());
}

/**
 * Returns the number of hashes in the audit path of leaf `index` in a tree of `size` leaves.
 * It runs the loop of RFC 9162 §2.1.3.2 without hashing, where each iteration uses one path
 * element and the path ends when sn reaches 0. Requires index < size.
 */
export function inclusionProofLength(index: number, size: number): number {
  let fn = index;
  let sn = size - 1;
  let length = 0;
  while (sn > 0) {
    if (!isOdd(fn) && fn === sn) {
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    length += 1;
  }
  return length;
}

/**
 * Returns the number of hashes in the consistency proof between trees of size1 and size2 leaves,
 * by running the loop of RFC 9162 §2.1.4.2 without hashing. Requires 0 < size1 <= size2.
 */
export function consistencyProofLength(size1: number, size2: number): number {
  if (size1 === size2) return 0;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // The first element seeds fr and sr. When size1 is a power of two the verifier prepends the
  // first root itself, so the proof does not carry that element.
  let length = isPowerOfTwo(size1) ? 0 : 1;
  while (sn > 0) {
    if (!isOdd(fn) && fn === sn) {
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    length += 1;
  }
  return length;
}

function isPowerOfTwo(n: number): boolean {
  let value = n;
  while (value > 1 && !isOdd(value)) value = half(value);
  return value === 1;
}

/**
 * Checks that `proof` is an array of 32-byte hashes of the expected count. Elements are proof
 * data, so a wrong element is a MALFORMED_PROOF failure, not an argument error.
 */
function checkProofHashes(proof: unknown, expectedLength: number, what: string): Uint8Array[] {
  if (!Array.isArray(proof)) {
    throw new TypeError(`proof: expected an array of Uint8Array, got ${describeType(proof)}`);
  }
  proof.forEach((element: unknown, index) => {
    if (!isBytes(element) || element.length !== HASH_LENGTH) {
      const got = isBytes(element) ? `${element.length} bytes` : describeType(element);
      throw new VerificationError(
        'MALFORMED_PROOF',
        `${what}: proof element ${index}: expected ${HASH_LENGTH} bytes, got ${got}`,
      );
    }
  });
  if (proof.length !== expectedLength) {
    throw new VerificationError(
      'MALFORMED_PROOF',
      `${what}: expected ${expectedLength} hashes in the proof, got ${proof.length}`,
    );
  }
  return proof as Uint8Array[];
}

/**
 * Verifies an inclusion proof per RFC 9162 §2.1.3.2 with Vellum's hashing: `path` must be the
 * audit path of leaf `index` in the tree of `size` leaves whose root is `root`. Stricter than the
 * RFC's loop alone, the path must have exactly the expected length.
 * @throws VerificationError with code INVALID_TREE_SIZE when index >= size, MALFORMED_PROOF for a
 *   path of the wrong length or with an element that is not 32 bytes, PROOF_MISMATCH when the
 *   calculated root differs from `root`.
 */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  path: readonly Uint8Array[],
  root: Uint8Array,
): void {
  checkSafeInteger(index, 'index');
  checkSafeInteger(size, 'size');
  checkBytes(leaf, 'leaf', HASH_LENGTH);
  checkBytes(root, 'root', HASH_LENGTH);
  const what = `inclusion proof for leaf ${index} in a tree of ${size}`;

  // Step 1: a leaf index at or past the tree size fails verification.
  if (index >= size) {
    throw new VerificationError(
      'INVALID_TREE_SIZE',
      `${what}: expected a leaf index less than the tree size`,
    );
  }
  const hashes = checkProofHashes(path, inclusionProofLength(index, size), what);

  // Steps 2-4. The argument order of combine follows the RFC's HASH(0x01 || left || right),
  // although dot is commutative.
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  // After the exact length check, the sn tests of steps 4a and 5 cannot fail. They are kept
  // as the RFC writes them.
  for (const p of hashes) {
    if (sn === 0) {
      throw new VerificationError('MALFORMED_PROOF', `${what}: the proof is too long`);
    }
    if (isOdd(fn) || fn === sn) {
      r = combine(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = combine(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }

  // Step 5.
  if (sn !== 0) {
    throw new VerificationError('MALFORMED_PROOF', `${what}: the proof is too short`);
  }
  if (!equalBytes(r, root)) {
    throw new VerificationError(
      'PROOF_MISMATCH',
      `${what}: calculated root ${toHex(r)} does not match expected root ${toHex(root)}`,
      { expected: copyBytes(root), actual: copyBytes(r) },
    );
  }
}

/**
 * Verifies a consistency proof per RFC 9162 §2.1.4.2 with Vellum's hashing: the tree of `size2`
 * leaves with root `root2` must extend the tree of `size1` leaves with root `root1`. Stricter
 * than the RFC, it rejects size1 = 0, requires an empty proof and equal roots when
 * size1 = size2, and requires exactly the expected proof length.
 * @throws VerificationError with code INVALID_TREE_SIZE when size1 = 0 or size1 > size2,
 *   MALFORMED_PROOF for a proof of the wrong length or with an element that is not 32 bytes,
 *   CONSISTENCY_MISMATCH when a calculated root differs from the expected one.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): void {
  checkSafeInteger(size1, 'size1');
  checkSafeInteger(size2, 'size2');
  checkBytes(root1, 'root1', HASH_LENGTH);
  checkBytes(root2, 'root2', HASH_LENGTH);
  const what = `consistency proof from tree size ${size1} to ${size2}`;

  if (size1 === 0) {
    throw new VerificationError(
      'INVALID_TREE_SIZE',
      `${what}: expected a first tree size of 1 or more`,
    );
  }
  if (size1 > size2) {
    throw new VerificationError(
      'INVALID_TREE_SIZE',
      `${what}: expected the first tree size to be at most the second`,
    );
  }
  const hashes = checkProofHashes(proof, consistencyProofLength(size1, size2), what);

  if (size1 === size2) {
    if (!equalBytes(root1, root2)) {
      throw new VerificationError(
        'CONSISTENCY_MISMATCH',
        `${what}: trees of equal size must have equal roots, got ${toHex(root1)} and ${toHex(root2)}`,
        { expected: copyBytes(root1), actual: copyBytes(root2) },
      );
    }
    return;
  }

  // Step 2: when size1 is a power of two, the first tree is a subtree of the second and its
  // root seeds the walk.
  const path = isPowerOfTwo(size1) ? [root1, ...hashes] : hashes;

  // Steps 3-4.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }

  // Step 5.
  let fr = path[0] as Uint8Array;
  let sr = fr;

  // Step 6. After the exact length check, the sn tests of steps 6a and 7 cannot fail. They
  // are kept as the RFC writes them.
  for (const c of path.slice(1)) {
    if (sn === 0) {
      throw new VerificationError('MALFORMED_PROOF', `${what}: the proof is too long`);
    }
    if (isOdd(fn) || fn === sn) {
      fr = combine(c, fr);
      sr = combine(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = combine(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }

  // Step 7.
  if (sn !== 0) {
    throw new VerificationError('MALFORMED_PROOF', `${what}: the proof is too short`);
  }
  if (!equalBytes(fr, root1)) {
    throw new VerificationError(
      'CONSISTENCY_MISMATCH',
      `${what}: calculated first root ${toHex(fr)} does not match expected root ${toHex(root1)}`,
      { expected: copyBytes(root1), actual: copyBytes(fr) },
    );
  }
  if (!equalBytes(sr, root2)) {
    throw new VerificationError(
      'CONSISTENCY_MISMATCH',
      `${what}: calculated second root ${toHex(sr)} does not match expected root ${toHex(root2)}`,
      { expected: copyBytes(root2), actual: copyBytes(sr) },
    );
  }
}
