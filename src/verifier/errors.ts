/** Address of a journal block, as in QLDB: the strand and the block's position in it. */
export interface BlockAddress {
  readonly strandId: string;
  readonly sequenceNo: number;
}

/**
 * Reason a verification failed.
 *
 * - `MALFORMED_PROOF`: the proof is not a list of 32-byte hashes, or has the wrong number of them.
 * - `MALFORMED_REVISION`, `MALFORMED_BLOCK`, `MALFORMED_TIP_ADDRESS`: invalid Ion, or a field
 *   that is missing, repeated or of the wrong type.
 * - `REVISION_HASH_MISMATCH`: a revision's stored hash differs from the hash of its content.
 * - `BLOCK_ADDRESS_MISMATCH`: a revision belongs to another block, or a block lies outside the
 *   digest's strand or after its tip.
 * - `ENTRIES_HASH_MISMATCH`: `entriesHashList` or `entriesHash` differs from the block content.
 * - `BLOCK_HASH_MISMATCH`: `blockHash` differs from `dot(entriesHash, previousBlockHash)`.
 * - `CHAIN_BROKEN`: sequence numbers are not consecutive from 0, the strand changes, or a
 *   `previousBlockHash` differs from the prior block's `blockHash`.
 * - `PROOF_MISMATCH`: folding a proof does not give the digest or root.
 * - `INVALID_TREE_SIZE`: a leaf index or tree size that no proof can exist for.
 * - `CONSISTENCY_MISMATCH`: a consistency proof does not give both roots.
 * - `DIGEST_MISMATCH`: the Merkle digest over a chain's block hashes differs from the one given.
 * - `EMPTY_CHAIN`: a chain without blocks.
 */
export type VerificationErrorCode =
  | 'MALFORMED_PROOF'
  | 'MALFORMED_REVISION'
  | 'MALFORMED_BLOCK'
  | 'MALFORMED_TIP_ADDRESS'
  | 'REVISION_HASH_MISMATCH'
  | 'BLOCK_ADDRESS_MISMATCH'
  | 'ENTRIES_HASH_MISMATCH'
  | 'BLOCK_HASH_MISMATCH'
  | 'CHAIN_BROKEN'
  | 'PROOF_MISMATCH'
  | 'INVALID_TREE_SIZE'
  | 'CONSISTENCY_MISMATCH'
  | 'DIGEST_MISMATCH'
  | 'EMPTY_CHAIN';

/** Context attached to a VerificationError. */
export interface VerificationErrorDetails {
  /** Address of the block involved, when it is known. */
  readonly blockAddress?: BlockAddress;
  /** Id of the document whose revision is involved, when it is known. */
  readonly documentId?: string;
  /** Hash given to the verifier: the digest, a root, or a hash stored in the block or revision. */
  readonly expected?: Uint8Array;
  /** Hash the verifier calculated in its place. */
  readonly actual?: Uint8Array;
  readonly cause?: unknown;
}

/**
 * Error thrown when a revision, block, chain or proof fails verification. Wrong argument types
 * raise TypeError and wrong argument lengths or ranges raise RangeError instead.
 */
export class VerificationError extends Error {
  override readonly name = 'VerificationError';
  readonly code: VerificationErrorCode;
  readonly blockAddress: BlockAddress | undefined;
  readonly documentId: string | undefined;
  readonly expected: Uint8Array | undefined;
  readonly actual: Uint8Array | undefined;

  constructor(
    code: VerificationErrorCode,
    message: string,
    details: VerificationErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.blockAddress = details.blockAddress;
    this.documentId = details.documentId;
    this.expected = details.expected;
    this.actual = details.actual;
  }
}
