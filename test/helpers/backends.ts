import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../../src/storage/store.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';

/** A store backend that the shared suites run against. */
export interface Backend {
  name: string;
  /** Open a fresh, empty store; `dispose` closes and removes it. */
  create(): Promise<{ store: Store; dispose: () => Promise<void>; reopen: () => Promise<Store> }>;
}

export const backends: Backend[] = [
  {
    name: 'sqlite',
    async create() {
      const dir = mkdtempSync(join(tmpdir(), 'vellum-store-'));
      const path = join(dir, 'store.db');
      let store: Store = SqliteStore.open({ path });
      return {
        store,
        reopen: async () => {
          await store.close();
          store = SqliteStore.open({ path });
          return store;
        },
        dispose: async () => {
          await store.close().catch(() => undefined);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

export function tempDir(prefix = 'vellum-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
