import { dom, Timestamp, Decimal } from 'ion-js';
import type {
  BlockAddress,
  RedactionInfo,
  RevisionMetadata,
  TransactionInfo,
} from './journal-types.js';

/**
 * Builders of the journal's Ion values. The hashes in the journal are Ion
 * hashes of exactly these values, and GetBlock and GetRevision return them
 * as Ion text, so a verifier recomputes the same hashes from what it reads.
 */

export function timestampFromMillis(millis: number): Timestamp {
  const date = new Date(millis);
  // Millisecond precision always, including .000, so the value and its hash
  // do not change with the clock reading.
  const seconds = new Decimal(
    `${date.getUTCSeconds()}.${String(date.getUTCMilliseconds()).padStart(3, '0')}`,
  );
  return new Timestamp(
    0,
    date.getUTCFullYear(),
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    seconds,
  );
}

export function blockAddressToIon(address: BlockAddress): dom.Value {
  return dom.Value.from({ strandId: address.strandId, sequenceNo: address.sequenceNo });
}

export function metadataToIon(metadata: RevisionMetadata): dom.Value {
  return dom.Value.from({
    id: metadata.id,
    version: metadata.version,
    txTime: timestampFromMillis(metadata.txTime),
    txId: metadata.txId,
  });
}

export function transactionInfoToIon(info: TransactionInfo): dom.Value {
  // Built from entries rather than an object, so that any document id,
  // even "__proto__", becomes a field.
  const documents = new dom.Struct(
    [...info.documents].map(([docId, document]): [string, dom.Value] => [
      docId,
      dom.Value.from({
        tableName: document.tableName,
        tableId: document.tableId,
        statements: document.statements,
      }),
    ]),
  );
  return dom.Value.from({
    statements: info.statements.map((statement) => ({
      statement: statement.statement,
      startTime: timestampFromMillis(statement.startTime),
      statementDigest: new Uint8Array(statement.statementDigest),
    })),
    documents,
  });
}

export function redactionInfoToIon(info: RedactionInfo): dom.Value {
  return dom.Value.from({
    blockAddress: {
      strandId: info.blockAddress.strandId,
      sequenceNo: info.blockAddress.sequenceNo,
    },
    tableId: info.tableId,
    documentId: info.documentId,
    version: info.version,
  });
}
