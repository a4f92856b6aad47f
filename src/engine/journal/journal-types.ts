/** Plain forms of the journal's Ion structures, as QLDB defines them. */

export interface BlockAddress {
  strandId: string;
  sequenceNo: number;
}

export interface RevisionMetadata {
  /** Document id, 22-character base62. */
  id: string;
  /** Zero-based revision number of the document. */
  version: number;
  /** Commit time, epoch milliseconds (an Ion timestamp with millisecond precision). */
  txTime: number;
  txId: string;
}

export interface StatementInfo {
  statement: string;
  /** Epoch milliseconds. */
  startTime: number;
  /** The statement's hash with its parameters folded in, as in the commit digest. */
  statementDigest: Uint8Array;
}

export interface DocumentInfo {
  tableName: string;
  tableId: string;
  /** Indexes into `statements` of the statements that wrote the document. */
  statements: number[];
}

export interface TransactionInfo {
  statements: StatementInfo[];
  /** Keyed by document id, in the order the documents were first written. */
  documents: Map<string, DocumentInfo>;
}

/**
 * The journal's record of a redaction, in the block of the transaction that
 * asked for it: which revision lost its data.
 */
export interface RedactionInfo {
  /** The block that holds the redacted revision. */
  blockAddress: BlockAddress;
  tableId: string;
  documentId: string;
  version: number;
}
