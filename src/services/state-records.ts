import { StateConflictError, type Store } from '../storage/store.js';

/**
 * Write a state record whatever its current version, as a last writer wins:
 * read the version, compare-and-set, and read again when another writer
 * came in between. For records that one writer replaces whole. Resolves
 * with the version written.
 */
export async function overwriteState(
  store: Store,
  namespace: string,
  key: string,
  value: Uint8Array,
): Promise<number> {
  for (;;) {
    const current = await store.getState(namespace, key);
    try {
      return await store.putState(namespace, key, value, current?.version ?? 0);
    } catch (error) {
      if (!(error instanceof StateConflictError)) throw error;
    }
  }
}
