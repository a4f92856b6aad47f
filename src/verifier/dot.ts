// Vellum's hash combination (QLDB's "dot" operator) and the two structures built from it:
// the pairwise list root used for revisions and block entries, and the proof fold.
import { createHash } from 'node:crypto';

import { HASH_LENGTH, checkBytes, checkHashArray, copyBytes } from './utils.js';

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

/**
 * Orders two 32-byte hashes as QLDB does: from index 31 down to 0, each byte read as a signed
 * 8-bit integer, the first differing byte decides. Returns a negative number when a < b.
 */
function compareHashes(a: Uint8Array, b: Uint8Array): number {
  for (let i = HASH_LENGTH - 1; i >= 0; i--) {
    const signedA = ((a[i] as number) << 24) >> 24;
    const signedB = ((b[i] as number) << 24) >> 24;
    if (signedA !== signedB) return signedA - signedB;
  }
  return 0;
}

/**
 * Unchecked form of {@link dot} for callers that have validated their inputs. It may return
 * one of its arguments, so callers must not mutate the result.
 */
export function combine(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return compareHashes(a, b) < 0 ? sha256(a, b) : sha256(b, a);
}

/**
 * Combines two hashes: SHA-256 of the smaller one followed by the larger one, in the order of
 * QLDB's signed, last-byte-first comparison. An empty hash is the identity, so the operation is
 * commutative and `dot(a, empty)` is `a`.
 * @param a - empty or 32 bytes
 * @param b - empty or 32 bytes
 * @returns a new 32-byte array, or an empty one when both inputs are empty
 */
export function dot(a: Uint8Array, b: Uint8Array): Uint8Array {
  checkBytes(a, 'a', 0, HASH_LENGTH);
  checkBytes(b, 'b', 0, HASH_LENGTH);
  return copyBytes(combine(a, b));
}

/** Unchecked form of {@link listRoot}; may return an element of `hashes`. */
export function combineList(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return new Uint8Array(0);
  let level = hashes;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i] as Uint8Array;
      const right = level[i + 1];
      // An unpaired last element moves up a level unchanged.
      next.push(right === undefined ? left : combine(left, right));
    }
    level = next;
  }
  return level[0] as Uint8Array;
}

/**
 * Computes QLDB's root of a hash list, used for a block's revision hashes and for its
 * `entriesHashList`: adjacent pairs are combined with {@link dot} from left to right, an
 * unpaired last element moves up unchanged, and this repeats until one hash remains.
 * @param hashes - 32-byte hashes
 * @returns the root, or an empty array when `hashes` is empty
 */
export function listRoot(hashes: readonly Uint8Array[]): Uint8Array {
  checkHashArray(hashes, 'hashes');
  return copyBytes(combineList(hashes));
}

/** Unchecked form of {@link foldProof}; may return `leaf` itself. */
export function foldHashes(leaf: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  let current = leaf;
  for (const hash of proof) current = combine(current, hash);
  return current;
}

/**
 * Folds a QLDB-style proof: starting from `leaf`, combines the running hash with each proof
 * element in order. The result equals the digest when the proof is valid.
 * @param leaf - 32-byte revision or block hash
 * @param proof - 32-byte hashes, from the leaf upward
 */
export function foldProof(leaf: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  checkBytes(leaf, 'leaf', HASH_LENGTH);
  checkHashArray(proof, 'proof');
  return copyBytes(foldHashes(leaf, proof));
}
