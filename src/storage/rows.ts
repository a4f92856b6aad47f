import type { LedgerRecord, StoredBlock, StoredCatalogObject, StoredRevision } from './store.js';

/**
 * Rows as the SQL stores read them, and their mapping to the contract's
 * records. Both stores use the same column names; they differ only in how
 * booleans arrive (SQLite's 0 and 1, PostgreSQL's true and false).
 */
export type Row = Record<string, unknown>;

export function toLedger(row: Row): LedgerRecord {
  return {
    name: row.name as string,
    id: row.id as string,
    createdAt: row.created_at as number,
    settings: row.settings as string,
    wrappedKey: row.wrapped_key as Buffer,
  };
}

export function toBlock(row: Row): StoredBlock {
  return {
    seq: row.seq as number,
    txId: row.tx_id as string,
    time: row.time as number,
    blockHash: row.block_hash as Buffer,
    entriesHash: row.entries_hash as Buffer,
    previousHash: row.previous_hash as Buffer,
    body: row.body as Buffer,
  };
}

export function toCatalogObject(row: Row): StoredCatalogObject {
  return {
    objectId: row.object_id as string,
    kind: row.kind as 'table' | 'index',
    blockSeq: row.block_seq as number,
    payload: row.payload as Buffer,
  };
}

export function toRevision(row: Row): StoredRevision {
  return {
    docId: row.doc_id as string,
    version: row.version as number,
    tableId: row.table_id as string,
    blockSeq: row.block_seq as number,
    txTime: row.tx_time as number,
    txId: row.tx_id as string,
    hash: row.hash as Buffer,
    payload: row.payload as Buffer,
    deleted: row.deleted === true || row.deleted === 1,
  };
}

/** Check a state record's namespace and key against the contract's lengths. */
export function checkStateKey(namespace: string, key: string): void {
  if (namespace.length === 0 || namespace.length > 64) {
    throw new RangeError(`a state namespace has 1 to 64 characters, got ${namespace.length}`);
  }
  if (key.length === 0 || key.length > 512) {
    throw new RangeError(`a state key has 1 to 512 characters, got ${key.length}`);
  }
}
