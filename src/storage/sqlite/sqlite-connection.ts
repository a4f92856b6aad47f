import { closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';

/**
 * Open a connection with the settings every Vellum connection shares. WAL
 * lets readers run beside the writer. With `synchronous = FULL`, SQLite
 * syncs the WAL at every commit, which its documentation states makes a
 * committed transaction durable across a power loss.
 */
export function openConnection(path: string): Database.Database {
  // Create a new file readable by its owner only; SQLite gives the WAL and
  // shared-memory files the database file's permissions.
  if (path !== ':memory:' && !existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  return db;
}
