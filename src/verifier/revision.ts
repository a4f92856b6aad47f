// Document revisions: the revision hash and the proof that a revision is in a digest.
//
// A revision is {blockAddress, hash, data?, dataHash?, metadata}. Its hash is
// dot(H(metadata), H(data)), where H is Ion Hash 1.0 with SHA-256. A deletion revision has no
// data and hashes to H(metadata). A redacted revision carries dataHash in place of data.
//
// NOTE: blockAddress is outside the revision hash, so a valid proof does not confirm it. Given
// the digest's tip address, the verifier checks only the strand, that the block is not after
// the tip, and a minimum proof length.
import type { dom } from 'ion-js';

import { checkCoveredByTip, formatAddress, resolveTipAddress } from './address.js';
import { combine, foldHashes } from './dot.js';
import type { BlockAddress } from './errors.js';
import { VerificationError } from './errors.js';
import type { IonInput, StructReader } from './ion.js';
import { ParseContext, ionHash, loadOne, readBlob, readStruct } from './ion.js';
import { inclusionProofLength } from './merkle.js';
import { resolveProof } from './proof.js';
import { HASH_LENGTH, checkBytes, checkOptions, copyBytes, equalBytes, toHex } from './utils.js';

/** A revision whose stored hash matched its content. */
export interface VerifiedRevision {
  readonly blockAddress: BlockAddress;
  readonly documentId: string;
  readonly version: number;
  readonly hash: Uint8Array;
}

/** Arguments of {@link verifyRevision}. */
export interface RevisionProofOptions {
  /** The revision, such as the `Revision.IonText` that QLDB's GetRevision returns. */
  readonly revision: IonInput;
  /** Ion text of a list of blobs, or the hashes themselves, from the revision upward. */
  readonly proof: string | readonly Uint8Array[];
  /** 32-byte digest from a trusted source. */
  readonly digest: Uint8Array;
  /**
   * Address of the digest's tip block, as an object or as Ion text. When given, the revision's
   * block must be on the tip's strand at or before the tip, and the proof must be at least as
   * long as that block's position requires.
   */
  readonly tipAddress?: BlockAddress | string;
}

/** Position of a revision, for error messages. */
interface RevisionLocation {
  /** Index in the enclosing block's `revisions` list. */
  readonly position?: number;
  /** Address of the enclosing block, or the revision's own when it is verified alone. */
  blockAddress?: BlockAddress;
  documentId?: string;
}

function describeRevision(location: RevisionLocation): string {
  let subject = 'revision';
  if (location.documentId !== undefined) {
    subject += ` of document ${JSON.stringify(location.documentId)}`;
  }
  if (location.position !== undefined) {
    subject += ` at revisions[${location.position}]`;
  }
  if (location.blockAddress !== undefined) {
    subject += ` in block ${formatAddress(location.blockAddress)}`;
  }
  return subject;
}

function updateContext(context: ParseContext, location: RevisionLocation): void {
  context.subject = describeRevision(location);
  context.details = { blockAddress: location.blockAddress, documentId: location.documentId };
}

/**
 * Reads metadata, data and dataHash and returns the revision hash they give. When both data and
 * dataHash are present, dataHash must equal H(data), or a changed data could hide behind an
 * unchanged dataHash.
 */
function hashContent(
  revision: StructReader,
  location: RevisionLocation,
): { documentId: string; version: number; hash: Uint8Array } {
  const context = revision.context;
  const metadata = revision.struct('metadata');
  const documentId = metadata.string('id');
  location.documentId = documentId;
  updateContext(context, location);
  const version = metadata.safeInteger('version');
  metadata.timestamp('txTime');
  metadata.string('txId');

  const dataValue = revision.optional('data');
  const data = dataValue === undefined ? undefined : readStruct(dataValue, 'data', context);
  const dataHashValue = revision.optional('dataHash');
  const storedDataHash =
    dataHashValue === undefined ? undefined : readBlob(dataHashValue, 'dataHash', context);

  let dataHash: Uint8Array = new Uint8Array(0);
  if (data !== undefined) {
    dataHash = ionHash(data.value, 'data', context);
    if (storedDataHash !== undefined && !equalBytes(storedDataHash, dataHash)) {
      throw new VerificationError(
        'REVISION_HASH_MISMATCH',
        `${context.subject}: dataHash ${toHex(storedDataHash)} does not match the hash ` +
          `${toHex(dataHash)} calculated from data`,
        { ...context.details, expected: storedDataHash, actual: dataHash },
      );
    }
  } else if (storedDataHash !== undefined) {
    dataHash = storedDataHash;
  }
  const metadataHash = ionHash(metadata.value, 'metadata', context);
  return { documentId, version, hash: combine(metadataHash, dataHash) };
}

/**
 * Reads a full revision, checks that its stored hash equals the hash of its content, and
 * returns both.
 * @throws VerificationError with code MALFORMED_REVISION or REVISION_HASH_MISMATCH.
 */
export function checkRevision(value: dom.Value, location: RevisionLocation): VerifiedRevision {
  const context = new ParseContext('MALFORMED_REVISION', describeRevision(location));
  updateContext(context, location);
  const revision = readStruct(value, '', context);
  const blockAddress = revision.blockAddress('blockAddress');
  if (location.blockAddress === undefined) {
    location.blockAddress = blockAddress;
    updateContext(context, location);
  }
  const storedHash = revision.blob('hash');
  const { documentId, version, hash } = hashContent(revision, location);

  if (!equalBytes(storedHash, hash)) {
    throw new VerificationError(
      'REVISION_HASH_MISMATCH',
      `${context.subject}: stored hash ${toHex(storedHash)} does not match the hash ` +
        `${toHex(hash)} calculated from metadata and data`,
      { ...context.details, expected: storedHash, actual: copyBytes(hash) },
    );
  }
  return { blockAddress, documentId, version, hash: copyBytes(hash) };
}

/**
 * Computes a revision's hash from its content: dot(H(metadata), H(data)), with dataHash in place
 * of H(data) for a redacted revision and H(metadata) alone for a deletion. The stored `hash` and
 * `blockAddress` fields are not read.
 * @param revision - Ion text, binary Ion or an ion-js dom value of the revision struct
 * @throws TypeError for another input type; VerificationError with code MALFORMED_REVISION
 *   for invalid Ion or a missing or mistyped field, REVISION_HASH_MISMATCH when data and
 *   dataHash are both present and disagree.
 */
export function revisionHash(revision: IonInput): Uint8Array {
  const location: RevisionLocation = {};
  const context = new ParseContext('MALFORMED_REVISION', describeRevision(location));
  const struct = readStruct(loadOne(revision, 'revision', context), '', context);
  return copyBytes(hashContent(struct, location).hash);
}

/**
 * Verifies that a revision is in the ledger that `digest` commits to: recomputes the revision's
 * hash from its content, checks it against the stored `hash`, then folds the proof from that
 * hash and compares the result with the digest.
 *
 * The proof lists, from the revision upward: the siblings in the block's list root of revision
 * hashes, the hash of transactionInfo, the previous block hash (absent for block 0), and the
 * block's audit path in the digest's tree.
 * @throws TypeError or RangeError for wrong argument types or a digest that is not 32 bytes;
 *   VerificationError with code MALFORMED_REVISION, MALFORMED_PROOF, MALFORMED_TIP_ADDRESS,
 *   REVISION_HASH_MISMATCH, BLOCK_ADDRESS_MISMATCH or PROOF_MISMATCH.
 */
export function verifyRevision(options: RevisionProofOptions): VerifiedRevision {
  const input = checkOptions(options, 'options');
  const digest = checkBytes(input.digest, 'digest', HASH_LENGTH);
  const tip =
    input.tipAddress === undefined ? undefined : resolveTipAddress(input.tipAddress, 'tipAddress');
  const location: RevisionLocation = {};
  const context = new ParseContext('MALFORMED_REVISION', describeRevision(location));
  const revision = checkRevision(loadOne(input.revision, 'revision', context), location);

  const subject = describeRevision(location);
  const details = { blockAddress: revision.blockAddress, documentId: revision.documentId };
  const proof = resolveProof(input.proof, subject, details);

  if (tip !== undefined) {
    checkCoveredByTip(revision.blockAddress, tip, subject, revision.documentId);
    // The proof holds the revision siblings (zero or more), H(transactionInfo), the previous
    // block hash unless this is block 0, and the block's audit path.
    const { sequenceNo } = revision.blockAddress;
    const minimum =
      inclusionProofLength(sequenceNo, tip.sequenceNo + 1) + 1 + (sequenceNo > 0 ? 1 : 0);
    if (proof.length < minimum) {
      throw new VerificationError(
        'MALFORMED_PROOF',
        `${subject}: expected at least ${minimum} hashes in the proof for a digest at tip ` +
          `${formatAddress(tip)}, got ${proof.length}`,
        details,
      );
    }
  }

  const calculated = foldHashes(revision.hash, proof);
  if (!equalBytes(calculated, digest)) {
    throw new VerificationError(
      'PROOF_MISMATCH',
      `${subject}: the proof gives ${toHex(calculated)}, which does not match the digest ` +
        toHex(digest),
      { ...details, expected: copyBytes(digest), actual: copyBytes(calculated) },
    );
  }
  return revision;
}
