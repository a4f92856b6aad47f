import { dot } from '../ion/index.js';
import type { MerkleNode } from '../../storage/store.js';

/** Reads stored nodes of complete subtrees; level 0 holds the block hashes. */
export type NodeReader = (
  nodes: ReadonlyArray<{ level: number; index: number }>,
) => Promise<Array<Uint8Array | undefined>>;

/**
 * The Merkle tree over a ledger's block hashes that digests and proofs are
 * built from. Its shape is that of RFC 9162 §2.1.1: the left subtree of `n`
 * leaves holds the largest power of two below `n`. Its leaves are the block
 * hashes themselves and an interior node is QLDB's `dot(left, right)`, so
 * QLDB-style proofs fold with `dot` alone.
 *
 * Node `(level, index)` is the root of leaves `[index << level, (index + 1) << level)`.
 * It is stored once complete and never changes afterwards, so a digest or
 * proof at any past tree size reads only stored nodes: O(log n) of them.
 */
export class BlockTree {
  /** The most recent node at each level: the left sibling of the next one. */
  #lastAtLevel: Uint8Array[] = [];
  #size = 0;
  readonly #read: NodeReader;
  readonly #cache = new Map<string, Uint8Array>();

  constructor(read: NodeReader) {
    this.#read = read;
  }

  get size(): number {
    return this.#size;
  }

  /** Rebuild the right edge of a tree of `size` leaves from storage. */
  async load(size: number): Promise<void> {
    const refs: Array<{ level: number; index: number }> = [];
    for (let level = 0; size >> level > 0; level++) {
      refs.push({ level, index: (size >> level) - 1 });
    }
    const hashes = await this.#read(refs);
    this.#lastAtLevel = hashes.map((hash, level) => {
      if (hash === undefined)
        throw new Error(`block tree node ${level}/${refs[level]!.index} is missing`);
      return hash;
    });
    this.#size = size;
  }

  /**
   * Plan appending the next block hash, after `previous` when given, without
   * changing the tree: the plan lists the nodes to store, and `commitAppend`
   * applies it once they are stored. Plans chain, so several blocks can be
   * planned before the first is durable.
   */
  planAppend(blockHash: Uint8Array, previous?: AppendPlan): AppendPlan {
    const lastAtLevel = [...(previous?.lastAtLevel ?? this.#lastAtLevel)];
    const index = previous?.size ?? this.#size;
    const nodes: MerkleNode[] = [];

    let hash = blockHash;
    let level = 0;
    let position = index;
    for (;;) {
      if (level > 0) nodes.push({ level, index: position, hash });
      const left = lastAtLevel[level];
      lastAtLevel[level] = hash;
      if ((position & 1) === 0) break;
      hash = dot(left!, hash);
      level += 1;
      position >>= 1;
    }
    return { size: index + 1, lastAtLevel, nodes };
  }

  commitAppend(plan: AppendPlan): void {
    this.#lastAtLevel = plan.lastAtLevel;
    this.#size = plan.size;
  }

  /** Compute the digest of the first `size` blocks (defaults to all). */
  async root(size = this.#size): Promise<Uint8Array> {
    if (size < 1 || size > this.#size) {
      throw new RangeError(`tree size must be between 1 and ${this.#size}, got ${size}`);
    }
    return this.#rangeHash(0, size);
  }

  /** RFC 9162 §2.1.3.1 audit path of leaf `index` in the tree of the first `size` leaves. */
  async inclusionPath(index: number, size = this.#size): Promise<Uint8Array[]> {
    if (size < 1 || size > this.#size || index < 0 || index >= size) {
      throw new RangeError(`leaf ${index} is not in a tree of ${size} blocks`);
    }
    const path: Uint8Array[] = [];
    await this.#path(index, 0, size, path);
    return path;
  }

  /** RFC 9162 §2.1.4.1 consistency proof from the tree of `from` leaves to that of `to`. */
  async consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    if (from < 1 || from > to || to > this.#size) {
      throw new RangeError(
        `a consistency proof needs 1 <= from <= to <= ${this.#size}, got from ${from}, to ${to}`,
      );
    }
    const proof: Uint8Array[] = [];
    await this.#subproof(from, 0, to, true, proof);
    return proof;
  }

  async #path(index: number, start: number, end: number, out: Uint8Array[]): Promise<void> {
    const size = end - start;
    if (size === 1) return;
    const k = largestPowerOfTwoBelow(size);
    if (index < k) {
      await this.#path(index, start, start + k, out);
      out.push(await this.#rangeHash(start + k, end));
    } else {
      await this.#path(index - k, start + k, end, out);
      out.push(await this.#rangeHash(start, start + k));
    }
  }

  async #subproof(
    m: number,
    start: number,
    end: number,
    complete: boolean,
    out: Uint8Array[],
  ): Promise<void> {
    const size = end - start;
    if (m === size) {
      if (!complete) out.push(await this.#rangeHash(start, end));
      return;
    }
    const k = largestPowerOfTwoBelow(size);
    if (m <= k) {
      await this.#subproof(m, start, start + k, complete, out);
      out.push(await this.#rangeHash(start + k, end));
    } else {
      await this.#subproof(m - k, start + k, end, false, out);
      out.push(await this.#rangeHash(start, start + k));
    }
  }

  /** MTH of leaves `[start, end)`, a range that RFC 9162's recursion produces. */
  async #rangeHash(start: number, end: number): Promise<Uint8Array> {
    const size = end - start;
    if ((size & (size - 1)) === 0 && start % size === 0) {
      const level = Math.log2(size);
      return this.#node(level, start / size);
    }
    const k = largestPowerOfTwoBelow(size);
    return dot(await this.#rangeHash(start, start + k), await this.#rangeHash(start + k, end));
  }

  async #node(level: number, index: number): Promise<Uint8Array> {
    if (index === (this.#size >> level) - 1 && this.#lastAtLevel[level] !== undefined) {
      return this.#lastAtLevel[level]!;
    }
    const key = `${level}/${index}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const [hash] = await this.#read([{ level, index }]);
    if (hash === undefined) throw new Error(`block tree node ${key} is missing from the store`);
    if (level >= 4) {
      // Upper levels are few and shared by every proof; cache them without bound.
      this.#cache.set(key, hash);
    }
    return hash;
  }
}

export interface AppendPlan {
  /** Tree size after the append. */
  size: number;
  lastAtLevel: Uint8Array[];
  /** Interior nodes the append completes; leaves are the block hashes, stored with the blocks. */
  nodes: MerkleNode[];
}

/** Return the largest power of two strictly below `n` (n >= 2). */
export function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
