import { dot, merkleRootOfList } from '../ion/index.js';
import type {
  BlockWrite,
  IndexEntry,
  StoredBlock,
  StoredCatalogObject,
  StoredRevision,
} from '../../storage/store.js';
import type { PayloadCipher } from '../keyring/ledger-cipher.js';
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
  /** Ion binary of the data; empty for a deletion. Sealed here, once the revision's hash is known. */
  plaintext: Uint8Array;
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
export function buildBlock(input: BlockInput, cipher: PayloadCipher): BlockWrite {
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
    const stored = {
      docId: revision.docId,
      version: revision.version,
      tableId: revision.tableId,
      blockSeq: input.seq,
      txTime: input.time,
      txId: input.txId,
      hash,
      deleted: revision.dataHash === undefined,
    };
    return {
      ...stored,
      payload: cipher.seal(revision.plaintext, revisionContext(stored)),
      indexEntries: revision.indexEntries,
    };
  });

  const entriesHashList = [hashTransactionInfo(input.info)];
  if (revisionHashes.length > 0) entriesHashList.push(merkleRootOfList(revisionHashes));
  const entriesHash = merkleRootOfList(entriesHashList);
  const blockHash = dot(entriesHash, input.previousHash);
  const header = {
    seq: input.seq,
    txId: input.txId,
    time: input.time,
    blockHash,
    entriesHash,
    previousHash: input.previousHash,
  };

  return {
    ...header,
    body: cipher.seal(encodeBlockBody(input.info, entriesHashList), blockContext(header)),
    revisions,
    catalog: input.catalog,
    merkleNodes: [],
  };
}

/**
 * Build the additional data that binds a sealed block body to every column
 * of its row, so that a changed hash, time or id in the store fails
 * authentication when the block is read.
 */
export function blockContext(block: Omit<StoredBlock, 'body'>): string {
  return `block:${block.seq}:${block.txId}:${block.time}:${hex(block.blockHash)}:${hex(block.entriesHash)}:${hex(block.previousHash)}`;
}

/** Build the additional data that binds a sealed revision payload to every column of its row. */
export function revisionContext(revision: Omit<StoredRevision, 'payload'>): string {
  return `rev:${revision.docId}:${revision.version}:${revision.tableId}:${revision.blockSeq}:${revision.txTime}:${revision.txId}:${revision.deleted ? 1 : 0}:${hex(revision.hash)}`;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}
