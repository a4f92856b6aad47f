// QLDB's hash combination ("dot") and the pairwise Merkle tree built from it over a list of
// hashes.
import { checkBytes, describeType } from './argument-checks.js';
import { SHA256_LENGTH, sha256 } from './sha256.js';

function checkHash(value: unknown, name: string): asserts value is Uint8Array {
  checkBytes(value, name);
  if (value.length !== 0 && value.length !== SHA256_LENGTH) {
    throw new RangeError(
      `Invalid ${name}: expected an empty or ${SHA256_LENGTH}-byte hash, received ${value.length} bytes`,
    );
  }
}

function checkHashList(hashes: unknown, name: string): asserts hashes is readonly Uint8Array[] {
  if (!Array.isArray(hashes)) {
    throw new TypeError(
      `Invalid ${name}: expected an array of Uint8Array, received ${describeType(hashes)}`,
    );
  }
  for (let index = 0; index < hashes.length; index++) checkHash(hashes[index], `${name}[${index}]`);
}

/**
 * Returns whether `a` orders before `b`: bytes compared from index 31 down to 0 as signed
 * 8-bit integers, the first difference deciding.
 */
function isBefore(a: Uint8Array, b: Uint8Array): boolean {
  for (let index = SHA256_LENGTH - 1; index >= 0; index--) {
    const signedA = (a[index]! << 24) >> 24;
    const signedB = (b[index]! << 24) >> 24;
    if (signedA !== signedB) return signedA < signedB;
  }
  return false;
}

/** {@link dot} without argument checks. */
function combine(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const joined = new Uint8Array(2 * SHA256_LENGTH);
  const [first, second] = isBefore(a, b) ? [a, b] : [b, a];
  joined.set(first, 0);
  joined.set(second, SHA256_LENGTH);
  return sha256(joined);
}

/**
 * Combines two hashes as QLDB does: SHA-256 of the smaller followed by the larger, in the
 * order of {@link isBefore}. An empty hash is the identity, and then the other argument itself
 * is returned. The operation is commutative.
 * @throws RangeError if a hash is neither empty nor 32 bytes.
 */
export function dot(a: Uint8Array, b: Uint8Array): Uint8Array {
  checkHash(a, 'a');
  checkHash(b, 'b');
  return combine(a, b);
}

/**
 * Returns the levels of the tree over `hashes`, leaves first. Each level combines adjacent
 * pairs left to right, and an unpaired last element moves up unchanged.
 */
function buildLevels(hashes: readonly Uint8Array[]): Uint8Array[][] {
  const levels = [hashes.slice()];
  let level = levels[0]!;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let index = 0; index + 1 < level.length; index += 2) {
      next.push(combine(level[index]!, level[index + 1]!));
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    levels.push(next);
    level = next;
  }
  return levels;
}

/**
 * Returns the Merkle root of the hashes in QLDB's pairwise tree. An empty list gives empty
 * bytes, and a list of one hash returns that hash itself.
 */
export function merkleRootOfList(hashes: readonly Uint8Array[]): Uint8Array {
  checkHashList(hashes, 'hashes');
  if (hashes.length === 0) return new Uint8Array(0);
  const levels = buildLevels(hashes);
  return levels[levels.length - 1]![0]!;
}

/**
 * Returns the sibling hashes on the way from `hashes[index]` to the root of
 * {@link merkleRootOfList}, leaf level first. Levels where the node has no sibling add
 * nothing, so folding `c = dot(c, sibling)` over the path from `hashes[index]` gives the root.
 * @throws RangeError if `index` is not an integer in [0, hashes.length).
 */
export function merklePathOfList(hashes: readonly Uint8Array[], index: number): Uint8Array[] {
  checkHashList(hashes, 'hashes');
  if (typeof index !== 'number') {
    throw new TypeError(`Invalid index: expected a number, received ${describeType(index)}`);
  }
  if (hashes.length === 0)
    throw new RangeError('Invalid hashes: the list is empty, so it has no path');
  if (!Number.isInteger(index) || index < 0 || index >= hashes.length) {
    throw new RangeError(
      `Invalid index: expected an integer from 0 to ${hashes.length - 1}, received ${index}`,
    );
  }
  const path: Uint8Array[] = [];
  let position = index;
  for (const level of buildLevels(hashes)) {
    const sibling = position ^ 1;
    if (sibling < level.length) path.push(level[sibling]!);
    position >>= 1;
  }
  return path;
}
