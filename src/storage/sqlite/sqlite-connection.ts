import Database from 'better-sqlite3';

/**
 * Open a connection with the settings every Vellum connection shares. WAL
 * lets readers run beside the writer. With `synchronous = FULL`, SQLite
 * syncs the WAL at every commit, which its documentation states makes a
 * committed transaction durable across a power loss.
 */
export function openConnection(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  return db;
}
