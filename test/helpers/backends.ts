import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Store } from '../../src/storage/store.js';
import { Engine, type EngineOptions } from '../../src/engine/index.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';

/** A store backend that the shared suites run against. */
export interface Backend {
  name: string;
  /** Why the backend's tests are skipped on this machine; undefined when they run. */
  skip?: string;
  /**
   * Open a fresh, empty store. `dispose` closes and removes it, and `reopen`
   * closes the store and opens it again. `another` opens a second store on
   * the same database, which `dispose` closes too.
   */
  create(): Promise<{
    store: Store;
    dispose: () => Promise<void>;
    reopen: () => Promise<Store>;
    another: () => Promise<Store>;
  }>;
}

/** The PostgreSQL server the tests use, set by `.ci/run`; each store gets a database of its own. */
export const postgresUrl = process.env.VELLUM_TEST_POSTGRES_URL;

const sqlite: Backend = {
  name: 'sqlite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'vellum-store-'));
    const path = join(dir, 'store.db');
    let store: Store = SqliteStore.open({ path });
    const others: Store[] = [];
    return {
      store,
      reopen: async () => {
        await store.close();
        store = SqliteStore.open({ path });
        return store;
      },
      another: async () => {
        const other = SqliteStore.open({ path });
        others.push(other);
        return other;
      },
      dispose: async () => {
        for (const other of others) await other.close().catch(() => undefined);
        await store.close().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const postgres: Backend = {
  name: 'postgres',
  skip:
    postgresUrl === undefined
      ? 'VELLUM_TEST_POSTGRES_URL is not set; .ci/run starts a server and sets it'
      : undefined,
  async create() {
    const database = await createDatabase();
    let store: Store = await PostgresStore.open({ url: database.url, poolSize: 4 });
    const others: Store[] = [];
    return {
      store,
      reopen: async () => {
        await store.close();
        store = await PostgresStore.open({ url: database.url, poolSize: 4 });
        return store;
      },
      another: async () => {
        const other = await PostgresStore.open({ url: database.url, poolSize: 4 });
        others.push(other);
        return other;
      },
      dispose: async () => {
        for (const other of others) await other.close().catch(() => undefined);
        await store.close().catch(() => undefined);
        await database.drop();
      },
    };
  },
};

export const backends: Backend[] = [sqlite, postgres];

/**
 * Create an empty database on the test server; `drop` removes it, closing
 * any connection still open to it.
 */
export async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (postgresUrl === undefined) throw new Error('VELLUM_TEST_POSTGRES_URL is not set');
  const name = `vellum_test_${randomBytes(6).toString('hex')}`;
  await administer(`CREATE DATABASE ${name}`);
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => administer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function administer(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Create a data directory and, for PostgreSQL, a database for engines of
 * this backend. Each `open` call opens a new engine on the same data, as a
 * restarted process would. `remove` deletes both; close the engines first.
 */
export async function engineFixture(backend: Backend): Promise<{
  open: (options?: Partial<EngineOptions>) => Promise<Engine>;
  remove: () => Promise<void>;
}> {
  const dir = tempDir();
  if (backend.name === 'sqlite') {
    return {
      open: (options) => Engine.open({ ...options, dataDir: dir.path }),
      remove: async () => dir.remove(),
    };
  }
  const database = await createDatabase();
  return {
    open: async (options) =>
      Engine.open({
        ...options,
        dataDir: dir.path,
        store: await PostgresStore.open({ url: database.url, poolSize: 4 }),
      }),
    remove: async () => {
      await database.drop();
      dir.remove();
    },
  };
}

export function tempDir(prefix = 'vellum-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Return the store as one of several servers sharing it sees it: marked as
 * not the single writer, so services read it again where another server
 * may have written.
 */
export function sharedStoreView(store: Store): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'singleWriter') return false;
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
