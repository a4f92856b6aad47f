import type { Store } from './store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { PostgresStore, type StoreLogger } from './postgres/postgres-store.js';

export interface OpenStoreOptions {
  /** Pool size for a PostgreSQL store; see `PostgresStoreOptions`. */
  poolSize?: number;
  /** Statement timeout for a PostgreSQL store, in milliseconds. */
  statementTimeoutMs?: number;
  logger?: StoreLogger;
}

/**
 * Open the store at `location`: PostgreSQL for a `postgres://` or
 * `postgresql://` URL, otherwise the SQLite file at that path (created when
 * missing). Either is migrated to the current schema.
 *
 * @example
 * await openStore('/var/lib/vellum/vellum.db'); // a SqliteStore
 * await openStore('postgres://vellum@127.0.0.1:5432/vellum'); // a PostgresStore
 */
export async function openStore(location: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (typeof location !== 'string' || location.length === 0) {
    throw new TypeError('a store location is a file path or a postgres:// URL, got an empty value');
  }
  if (/^postgres(ql)?:\/\//i.test(location)) {
    return PostgresStore.open({ url: location, ...options });
  }
  if (/^postgres(ql)?:/i.test(location)) {
    throw new TypeError(
      `store ${JSON.stringify(withoutPassword(location))} is not a PostgreSQL URL: write it as postgres://USER@HOST:PORT/DATABASE`,
    );
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new TypeError(
      `unsupported store URL scheme in ${JSON.stringify(location.split('://')[0] + '://')}: use a file path or a postgres:// URL`,
    );
  }
  return SqliteStore.open({ path: location });
}

/** Hide the password of a URL-like store location, for messages and logs. */
export function withoutPassword(location: string): string {
  return location.replace(/^([a-z][a-z0-9+.-]*:\/*[^/@:]*):[^/@]*@/i, '$1:***@');
}
