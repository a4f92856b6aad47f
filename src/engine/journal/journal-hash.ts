import { IonHashBuilder } from '../ion/index.js';
import type { DocumentInfo, RevisionMetadata, TransactionInfo } from './journal-types.js';

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
 * Parts that repeat in most blocks: `statements: []`, the first revision
 * versions, `txTime` while blocks share a millisecond, and each document's
 * entry of `transactionInfo` per table and statement.
 */
// A builder of their own, since they are computed while `builder` is mid-value.
const fieldBuilder = new IonHashBuilder();
const EMPTY_STATEMENTS = fieldBuilder.computeFieldHash('statements', (b) =>
  b.stepIn('list').stepOut(),
);
const SMALL_VERSIONS = Array.from({ length: 16 }, (_, version) =>
  fieldBuilder.computeFieldHash('version', (b) => b.int(version)),
);
let lastTxTime: { time: number; hash: Uint8Array } = { time: Number.NaN, hash: new Uint8Array(0) };
const documentEntries = new Map<string, Uint8Array>();
const MAX_CACHED_ENTRIES = 10_000;

function txTimeField(time: number): Uint8Array {
  if (lastTxTime.time !== time) {
    const hash = fieldBuilder.computeFieldHash('txTime', (b) => b.timestamp(new Date(time)));
    lastTxTime = { time, hash };
  }
  return lastTxTime.hash;
}

/** Writes a document's `{tableName, tableId, statements}` entry of `transactionInfo`. */
function writeDocumentEntry(b: IonHashBuilder, document: DocumentInfo): void {
  b.stepIn('struct');
  b.fieldName('tableName').string(document.tableName);
  b.fieldName('tableId').string(document.tableId);
  b.fieldName('statements').stepIn('list');
  for (const index of document.statements) b.int(index);
  b.stepOut();
  b.stepOut();
}

/**
 * Returns the serialization of a document's entry. Entries that name at
 * most one statement, as nearly all do, are cached.
 */
function documentEntry(document: DocumentInfo): Uint8Array {
  if (document.statements.length > 1) return computeDocumentEntry(document);
  const key = `${document.tableId}/${document.statements[0] ?? ''}/${document.tableName}`;
  let serialization = documentEntries.get(key);
  if (serialization === undefined) {
    if (documentEntries.size >= MAX_CACHED_ENTRIES) documentEntries.clear();
    serialization = computeDocumentEntry(document);
    documentEntries.set(key, serialization);
  }
  return serialization;
}

function computeDocumentEntry(document: DocumentInfo): Uint8Array {
  return fieldBuilder.computeSerialization((b) => writeDocumentEntry(b, document));
}

/** Ion Hash of a revision's metadata struct `{id, version, txTime, txId}`. */
export function hashMetadata(metadata: RevisionMetadata): Uint8Array {
  builder.reset();
  builder.stepIn('struct');
  builder.fieldName('id').string(metadata.id);
  const versionHash = SMALL_VERSIONS[metadata.version];
  if (versionHash !== undefined) builder.fieldHash(versionHash);
  else builder.fieldName('version').int(metadata.version);
  builder.fieldHash(txTimeField(metadata.txTime));
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
    builder.fieldName(docId).serializedValue(documentEntry(document));
  }
  builder.stepOut();

  builder.stepOut();
  return builder.digest();
}
