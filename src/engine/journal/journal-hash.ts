import { IonHashBuilder } from '../ion/index.js';
import type { RevisionMetadata, TransactionInfo } from './journal-types.js';

/**
 * Ion hashes of the journal structures the engine builds itself, streamed
 * into the hash builder without constructing ion-js values. They must equal
 * the Ion hashes of the values in `journal-ion.ts`, which GetBlock and
 * GetRevision return; the journal tests check both against ion-hash-js.
 * A Date is hashed as a timestamp with millisecond precision and offset
 * +00:00, as `timestampFromMillis` builds it, and costs half as much.
 */

const builder = new IonHashBuilder();

/**
 * Field hashes that repeat in most blocks: `statements: []`, the first
 * revision versions, and `tableName` and `tableId` per table.
 */
// A builder of their own, since they are computed while `builder` is mid-value.
const fieldBuilder = new IonHashBuilder();
const EMPTY_STATEMENTS = fieldBuilder.computeFieldHash('statements', (b) =>
  b.stepIn('list').stepOut(),
);
const SMALL_VERSIONS = Array.from({ length: 16 }, (_, version) =>
  fieldBuilder.computeFieldHash('version', (b) => b.int(version)),
);
const tableFieldHashes = new Map<string, [Uint8Array, Uint8Array]>();
const MAX_CACHED_TABLES = 10_000;

function tableFields(tableName: string, tableId: string): [Uint8Array, Uint8Array] {
  const key = `${tableId}/${tableName}`;
  let hashes = tableFieldHashes.get(key);
  if (hashes === undefined) {
    if (tableFieldHashes.size >= MAX_CACHED_TABLES) tableFieldHashes.clear();
    hashes = [
      fieldBuilder.computeFieldHash('tableName', (b) => b.string(tableName)),
      fieldBuilder.computeFieldHash('tableId', (b) => b.string(tableId)),
    ];
    tableFieldHashes.set(key, hashes);
  }
  return hashes;
}

/** Ion Hash of a revision's metadata struct `{id, version, txTime, txId}`. */
export function hashMetadata(metadata: RevisionMetadata): Uint8Array {
  builder.reset();
  builder.stepIn('struct');
  builder.fieldName('id').string(metadata.id);
  const versionHash = SMALL_VERSIONS[metadata.version];
  if (versionHash !== undefined) builder.fieldHash(versionHash);
  else builder.fieldName('version').int(metadata.version);
  builder.fieldName('txTime').timestamp(new Date(metadata.txTime));
  builder.fieldName('txId').string(metadata.txId);
  builder.stepOut();
  return builder.digest();
}

/** Ion Hash of a block's `transactionInfo` struct. */
export function hashTransactionInfo(info: TransactionInfo): Uint8Array {
  builder.reset();
  builder.stepIn('struct');

  if (info.statements.length === 0) builder.fieldHash(EMPTY_STATEMENTS);
  else {
    builder.fieldName('statements').stepIn('list');
    for (const statement of info.statements) {
      builder.stepIn('struct');
      builder.fieldName('statement').string(statement.statement);
      builder.fieldName('startTime').timestamp(new Date(statement.startTime));
      builder.fieldName('statementDigest').blob(statement.statementDigest);
      builder.stepOut();
    }
    builder.stepOut();
  }

  builder.fieldName('documents').stepIn('struct');
  for (const [docId, document] of info.documents) {
    builder.fieldName(docId).stepIn('struct');
    const [tableNameHash, tableIdHash] = tableFields(document.tableName, document.tableId);
    builder.fieldHash(tableNameHash).fieldHash(tableIdHash);
    builder.fieldName('statements').stepIn('list');
    for (const index of document.statements) builder.int(index);
    builder.stepOut();
    builder.stepOut();
  }
  builder.stepOut();

  builder.stepOut();
  return builder.digest();
}
