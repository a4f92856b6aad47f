import {
  RekeyConflictError,
  type IndexEntry,
  type IndexEntryReplacement,
  type LedgerRecord,
  type WrappedDataKey,
  type StoredBlock,
  type StoredCatalogObject,
  type StoredIndexEntry,
  type StoredRevision,
} from './store.js';

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
    keyGeneration: Number(row.key_generation ?? 0),
    ...(row.retiring_key === null || row.retiring_key === undefined
      ? {}
      : {
          retiringKey: {
            generation: Number(row.retiring_generation),
            wrappedKey: row.retiring_key as Buffer,
          },
        }),
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

/** Map a stored index entry row (`doc_id, version, index_id, key_mac, key_gen`). */
export function toStoredIndexEntry(row: Row): StoredIndexEntry {
  return {
    docId: row.doc_id as string,
    version: row.version as number,
    entry: {
      indexId: row.index_id as string,
      keyMac: row.key_mac as Buffer,
      generation: Number(row.key_gen),
    },
  };
}

/**
 * Cut a page of index entry rows, in document id order, to whole documents:
 * a page that reached `limit` may end inside a document, whose rows are
 * dropped, unless it is the page's only document, which `rest` then
 * completes with all of that document's rows.
 */
export async function wholeDocuments(
  rows: Row[],
  limit: number,
  rest: (docId: string) => Promise<Row[]> | Row[],
): Promise<StoredIndexEntry[]> {
  if (rows.length < limit) return rows.map(toStoredIndexEntry);
  const last = rows[rows.length - 1]!.doc_id as string;
  const whole = rows.filter((row) => row.doc_id !== last);
  if (whole.length > 0) return whole.map(toStoredIndexEntry);
  return (await rest(last)).map(toStoredIndexEntry);
}

/** Check that each replacement keeps its index: only the MAC and its generation change. */
export function checkReplacements(replacements: readonly IndexEntryReplacement[]): void {
  for (const { from, to, docId } of replacements) {
    if (from.indexId !== to.indexId) {
      throw new RangeError(
        `an index entry of document ${docId} cannot move from index ${from.indexId} to ${to.indexId}`,
      );
    }
  }
}

/** Check a page size for `listIndexEntries`. */
export function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`a page limit is a positive integer, got ${limit}`);
  }
}

/** Check a data key generation given to a store. */
export function checkGeneration(generation: number): void {
  if (!Number.isInteger(generation) || generation < 0 || generation > 0xffff_ffff) {
    throw new RangeError(
      `a data key generation is an integer from 0 to 4294967295, got ${generation}`,
    );
  }
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

/** The entries of a lookup as a list, checked to name one index. */
export function lookupEntries(entries: IndexEntry | readonly IndexEntry[]): readonly IndexEntry[] {
  const list = Array.isArray(entries)
    ? (entries as readonly IndexEntry[])
    : [entries as IndexEntry];
  if (list.length === 0) throw new RangeError('an index lookup needs at least one entry');
  if (list.some((entry) => entry.indexId !== list[0]!.indexId)) {
    throw new RangeError('the entries of one index lookup must name the same index');
  }
  return list;
}

/** Return why `finishRekey` cannot retire a generation, or undefined when it can start. */
export function retiringKeyConflict(
  name: string,
  record: LedgerRecord | undefined,
  generation: number,
): RekeyConflictError | undefined {
  if (record?.retiringKey?.generation === generation) return undefined;
  return new RekeyConflictError(
    name,
    record === undefined
      ? `ledger ${name} does not exist`
      : `ledger ${name} holds no retiring data key of generation ${generation}`,
  );
}

/** Return the error of a `finishRekey` that found index entries still MACed under the retiring key. */
export function entriesLeftConflict(name: string, generation: number): RekeyConflictError {
  return new RekeyConflictError(
    name,
    `index entries of data key generation ${generation} remain in ledger ${name}; MAC them under the new key first`,
  );
}

/** Explain why `beginRekey` changed nothing. */
export function rekeyConflict(
  name: string,
  record: LedgerRecord | undefined,
  from: number,
  next: WrappedDataKey,
): RekeyConflictError {
  if (record === undefined) return new RekeyConflictError(name, `ledger ${name} does not exist`);
  const current = record.keyGeneration ?? 0;
  if (record.retiringKey !== undefined) {
    return new RekeyConflictError(
      name,
      `a rekey of ledger ${name} is already running, from data key generation ${record.retiringKey.generation} to ${current}`,
    );
  }
  if (current !== from) {
    return new RekeyConflictError(
      name,
      `the data key of ledger ${name} is generation ${current}, not ${from}`,
    );
  }
  return new RekeyConflictError(
    name,
    `a new data key of ledger ${name} needs a generation above ${current}, got ${next.generation}`,
  );
}
