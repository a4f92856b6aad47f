import type { RedactionInfo, TransactionInfo } from './journal-types.js';

/**
 * The stored body of a block: its transaction info and entries hash list,
 * as compact JSON (sealed by the ledger cipher before storage). Revisions are
 * stored as rows of their own and joined back when a block is read.
 */
interface BodyJson {
  v: 1;
  /** statements: [text, startTime ms, statementDigest base64] */
  s: Array<[string, number, string]>;
  /** documents: [docId, tableName, tableId, statement indexes] */
  d: Array<[string, string, string, number[]]>;
  /** entriesHashList, base64 */
  e: string[];
  /** redactionInfo: [strandId, sequenceNo, tableId, documentId, version] */
  r?: [string, number, string, string, number];
}

export interface BlockBody {
  info: TransactionInfo;
  entriesHashList: Uint8Array[];
  redaction?: RedactionInfo;
}

export function encodeBlockBody(
  info: TransactionInfo,
  entriesHashList: Uint8Array[],
  redaction?: RedactionInfo,
): Uint8Array {
  const body: BodyJson = {
    v: 1,
    s: info.statements.map((s) => [s.statement, s.startTime, base64(s.statementDigest)]),
    d: [...info.documents].map(([docId, d]) => [docId, d.tableName, d.tableId, d.statements]),
    e: entriesHashList.map(base64),
  };
  if (redaction !== undefined) {
    const { blockAddress, tableId, documentId, version } = redaction;
    body.r = [blockAddress.strandId, blockAddress.sequenceNo, tableId, documentId, version];
  }
  return Buffer.from(JSON.stringify(body), 'utf8');
}

export function decodeBlockBody(bytes: Uint8Array): BlockBody {
  const body = JSON.parse(Buffer.from(bytes).toString('utf8')) as BodyJson;
  if (body.v !== 1) throw new Error(`unsupported block body version ${String(body.v)}`);
  return {
    info: {
      statements: body.s.map(([statement, startTime, digest]) => ({
        statement,
        startTime,
        statementDigest: Buffer.from(digest, 'base64'),
      })),
      documents: new Map(
        body.d.map(([docId, tableName, tableId, statements]) => [
          docId,
          { tableName, tableId, statements },
        ]),
      ),
    },
    entriesHashList: body.e.map((hash) => Buffer.from(hash, 'base64')),
    ...(body.r === undefined
      ? {}
      : {
          redaction: {
            blockAddress: { strandId: body.r[0], sequenceNo: body.r[1] },
            tableId: body.r[2],
            documentId: body.r[3],
            version: body.r[4],
          },
        }),
  };
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}
