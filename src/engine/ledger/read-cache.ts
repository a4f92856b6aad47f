import type { StoredRevision } from '../../storage/store.js';

/** A stored revision with its payload already decrypted. */
export interface CachedRevision {
  stored: StoredRevision;
  /** Decrypted Ion binary of the data; undefined for a deletion. */
  plaintext: Uint8Array | undefined;
}

/**
 * Committed results of index lookups, keyed like the committer's marks, so
 * that a repeated point read skips the store and the decryption.
 *
 * The committer invalidates every key a batch changed once the batch is
 * durable. A lookup that began before an invalidation may hold stale rows,
 * so it is only cached when no invalidation happened while it ran.
 *
 * On a store shared with other processes, their commits invalidate keys
 * only when the committer catches up with them, so a lookup may return a
 * result that another process has since changed. That stays serializable:
 * the transaction's read is recorded as usual, and its commit, which
 * catches up first, fails with an OCC conflict. The cached plaintext is
 * dropped by `clear()` when the data key must be forgotten.
 */
export class ReadCache {
  readonly #entries = new Map<string, CachedRevision[]>();
  readonly #capacity: number;
  #generation = 0;

  constructor(capacity = 50_000) {
    this.#capacity = capacity;
  }

  /** Changes whenever anything is invalidated; pass it back to `set`. */
  get generation(): number {
    return this.#generation;
  }

  get(key: string): CachedRevision[] | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: CachedRevision[], generation: number): void {
    if (generation !== this.#generation) return;
    if (this.#entries.size >= this.#capacity) {
      // Evict the oldest entry: Map iterates in insertion order.
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(key, value);
  }

  invalidate(keys: Iterable<string>): void {
    this.#generation += 1;
    for (const key of keys) this.#entries.delete(key);
  }

  clear(): void {
    this.#generation += 1;
    this.#entries.clear();
  }
}
