import Database from 'better-sqlite3';

/**
 * Open a connection with the settings every Vellum connection shares: WAL,
 * so readers never block the writer, and `synchronous = FULL`, so a commit
 * that returned has been fsynced and survives a power loss.
 */
export function openConnection(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  return db;
}
