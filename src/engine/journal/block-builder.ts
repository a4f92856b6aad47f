import { dot, merkleRootOfList } from '../ion/index.js';
import type { BlockWrite, IndexEntry, StoredCatalogObject } from '../../storage/store.js';
import type { LedgerCipher } from '../keyring/ledger-cipher.js';
import { hashMetadata, hashTransactionInfo } from './journal-hash.js';
import type { TransactionInfo } from './journal-types.js';
import { encodeBlockBody } from './block-body.js';

/** A document change of a committing transaction, prepared before commit. */
export interface PreparedRevision {
  docId: string;
  version: number;
  tableId: string;
  /** Ion hash of the data; undefined for a deletion. */
  dataHash: Uint8Array | undefined;
  /** Sealed Ion binary of the data (sealed empty bytes for a deletion). */
  payload: Uint8Array;
  indexEntries: IndexEntry[];
}

export interface BlockInput {
  seq: number;
  txId: string;
  time: number;
  previousHash: Uint8Array;
  info: TransactionInfo;
  revisions: PreparedRevision[];
  catalog: StoredCatalogObject[];
}

/**
 * Compute a block's hashes as QLDB does and produce its storage form:
 * revision hash `dot(H(metadata), H(data))`, entries `[H(transactionInfo),
 * root(revision hashes)]`, entries hash the root of that list, and block hash
 * `dot(entriesHash, previousBlockHash)`.
 */
export function buildBlock(input: BlockInput, cipher: LedgerCipher): BlockWrite {
  const revisionHashes: Uint8Array[] = [];
  const revisions = input.revisions.map((revision) => {
    const metadataHash = hashMetadata({
      id: revision.docId,
      version: revision.version,
      txTime: input.time,
      txId: input.txId,
    });
    const hash =
      revision.dataHash === undefined ? metadataHash : dot(metadataHash, revision.dataHash);
    revisionHashes.push(hash);
    return {
      docId: revision.docId,
      version: revision.version,
      tableId: revision.tableId,
      blockSeq: input.seq,
      txTime: input.time,
      txId: input.txId,
      hash,
      payload: revision.payload,
      deleted: revision.dataHash === undefined,
      indexEntries: revision.indexEntries,
    };
  });

  const entriesHashList = [hashTransactionInfo(input.info)];
  if (revisionHashes.length > 0) entriesHashList.push(merkleRootOfList(revisionHashes));
  const entriesHash = merkleRootOfList(entriesHashList);
  const blockHash = dot(entriesHash, input.previousHash);

  return {
    seq: input.seq,
    txId: input.txId,
    time: input.time,
    blockHash,
    entriesHash,
    previousHash: input.previousHash,
    body: cipher.seal(encodeBlockBody(input.info, entriesHashList), blockContext(input.seq)),
    revisions,
    catalog: input.catalog,
    merkleNodes: [],
  };
}

export function blockContext(seq: number): string {
  return `block:${seq}`;
}

export function revisionContext(docId: string, version: number): string {
  return `rev:${docId}:${version}`;
}
