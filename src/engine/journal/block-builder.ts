import { dot, ionHash, merkleRootOfList } from '../ion/index.js';
import type {
  BlockWrite,
  IndexEntry,
  StoredBlock,
  StoredCatalogObject,
  StoredRevision,
} from '../../storage/store.js';
import type { PayloadCipher } from '../keyring/ledger-cipher.js';
import { hashMetadata, hashTransactionInfo } from './journal-hash.js';
import type { RedactionInfo, TransactionInfo } from './journal-types.js';
import { encodeBlockBody } from './block-body.js';
import { redactionInfoToIon } from './journal-ion.js';

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
  redaction?: PreparedRedaction;
}

/** A redaction of an earlier revision, checked before commit. */
export interface PreparedRedaction {
  info: RedactionInfo;
  /** The stored revision's row, whose columns its new payload stays bound to. */
  revision: Omit<StoredRevision, 'payload'>;
  /** The Ion hash of the data the revision held. */
  dataHash: Uint8Array;
}

/**
 * Compute a block's hashes as QLDB does and produce its storage form:
 * revision hash `dot(H(metadata), H(data))`, entries `[H(transactionInfo),
 * H(redactionInfo) when the block redacts, root(revision hashes)]`, entries
 * hash the root of that list, and block hash `dot(entriesHash,
 * previousBlockHash)`.
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

  // The revisions' root stays last, where revision proofs expect it.
  const entriesHashList = [hashTransactionInfo(input.info)];
  if (input.redaction !== undefined) {
    entriesHashList.push(ionHash(redactionInfoToIon(input.redaction.info)));
  }
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

  const block: BlockWrite = {
    ...header,
    body: cipher.seal(
      encodeBlockBody(input.info, entriesHashList, input.redaction?.info),
      blockContext(header),
    ),
    revisions,
    catalog: input.catalog,
    merkleNodes: [],
  };
  const redaction = input.redaction;
  if (redaction !== undefined) {
    block.redactions = [
      {
        docId: redaction.revision.docId,
        version: redaction.revision.version,
        payload: cipher.seal(
          redactedPlaintext(redaction.dataHash),
          revisionContext(redaction.revision),
        ),
      },
    ];
  }
  return block;
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

/**
 * A redacted revision's sealed plaintext starts with this marker, followed
 * by the Ion hash of the data it held. Ion binary starts with E0 and a
 * deletion's plaintext is empty, so neither can be mistaken for it.
 */
const REDACTED_MARKER = Uint8Array.of(0x00, 0x52, 0x44, 0x01);
const HASH_LENGTH = 32;

/** Build the plaintext that replaces a revision's data when it is redacted. */
export function redactedPlaintext(dataHash: Uint8Array): Uint8Array {
  const plaintext = new Uint8Array(REDACTED_MARKER.length + HASH_LENGTH);
  plaintext.set(REDACTED_MARKER);
  plaintext.set(dataHash, REDACTED_MARKER.length);
  return plaintext;
}

/** Return the data hash that a redacted revision's plaintext keeps, or undefined for any other plaintext. */
export function redactedDataHash(plaintext: Uint8Array): Uint8Array | undefined {
  if (plaintext.length !== REDACTED_MARKER.length + HASH_LENGTH) return undefined;
  for (let i = 0; i < REDACTED_MARKER.length; i++) {
    if (plaintext[i] !== REDACTED_MARKER[i]) return undefined;
  }
  return plaintext.slice(REDACTED_MARKER.length);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}
