// Journal blocks: recomputing a block's hashes from its content, and its proof in a digest.
// With H the Ion Hash 1.0 (SHA-256) of a value:
//
//   entriesHashList = [H(transactionInfo), H(redactionInfo), listRoot(revision hashes)],
//                     without H(redactionInfo) in a block that redacts nothing and without
//                     the list root in a block without revisions
//   entriesHash     = listRoot(entriesHashList)
//   blockHash       = dot(entriesHash, previousBlockHash), with an empty previousBlockHash
//                     in block 0
//
// NOTE: blockAddress, transactionId and blockTimestamp are outside every hash, so a verified
// block does not vouch for them. Only a chain check or a tip address constrains blockAddress.
import type { dom } from 'ion-js';

import {
  checkCoveredByTip,
  formatAddress,
  formatBlock,
  resolveTipAddress,
  sameAddress,
} from './address.js';
import { combine, combineList, foldHashes } from './dot.js';
import type { BlockAddress } from './errors.js';
import { VerificationError } from './errors.js';
import type { IonInput, StructReader } from './ion.js';
import {
  ParseContext,
  ionHash,
  loadOne,
  readBlob,
  readList,
  readSafeInteger,
  readStruct,
} from './ion.js';
import { inclusionProofLength } from './merkle.js';
import { resolveProof } from './proof.js';
import { checkRevision } from './revision.js';
import { HASH_LENGTH, checkBytes, checkOptions, copyBytes, equalBytes, toHex } from './utils.js';

/** A block whose hashes matched its content. */
export interface VerifiedBlock {
  readonly blockAddress: BlockAddress;
  readonly blockHash: Uint8Array;
  /** Empty for block 0. */
  readonly previousBlockHash: Uint8Array;
  readonly revisionCount: number;
}

/** Arguments of {@link verifyBlock}. */
export interface BlockProofOptions {
  /** The block, such as the `Block.IonText` that QLDB's GetBlock returns. */
  readonly block: IonInput;
  /** Audit path of the block in the digest's tree, as Ion text or hashes. Requires `digest`. */
  readonly proof?: string | readonly Uint8Array[];
  /** 32-byte digest from a trusted source. Requires `proof`. */
  readonly digest?: Uint8Array;
  /**
   * Address of the digest's tip block, as an object or as Ion text. When given, the block must
   * be on the tip's strand at or before the tip, and the proof must have exactly the audit path
   * length of RFC 9162 §2.1.3.2 for that position.
   */
  readonly tipAddress?: BlockAddress | string;
}

/**
 * Checks the shape of transactionInfo. Its content is covered by H(transactionInfo), so this
 * only rejects blocks that do not follow the journal format.
 */
function checkTransactionInfo(info: StructReader): void {
  const context = info.context;
  info.list('statements').forEach((value, index) => {
    const statement = readStruct(value, info.path(`statements[${index}]`), context);
    statement.string('statement');
    statement.timestamp('startTime');
    statement.bytes('statementDigest');
  });
  const documents = info.struct('documents');
  for (const [documentId, values] of documents.value.allFields()) {
    const label = documents.path(documentId);
    if (values.length !== 1) context.failAt(label, `expected 1 field, got ${values.length}`);
    const document = readStruct(values[0] as dom.Value, label, context);
    document.string('tableName');
    document.string('tableId');
    document.list('statements').forEach((index, position) => {
      readSafeInteger(index, document.path(`statements[${position}]`), context);
    });
  }
}

function readRevisionList(block: StructReader): dom.Value[] {
  const value = block.optional('revisions');
  return value === undefined ? [] : readList(value, 'revisions', block.context);
}

/**
 * Reads a block and checks every hash in it against its content.
 * @param subject - how to name the block in errors until its address has been read
 * @throws VerificationError with code MALFORMED_BLOCK, MALFORMED_REVISION,
 *   REVISION_HASH_MISMATCH, BLOCK_ADDRESS_MISMATCH, ENTRIES_HASH_MISMATCH, CHAIN_BROKEN or
 *   BLOCK_HASH_MISMATCH.
 */
export function checkBlock(value: dom.Value, subject: string): VerifiedBlock {
  const context = new ParseContext('MALFORMED_BLOCK', subject);
  const block = readStruct(value, '', context);
  const blockAddress = block.blockAddress('blockAddress');
  context.subject = formatBlock(blockAddress);
  context.details = { blockAddress };

  block.string('transactionId');
  block.timestamp('blockTimestamp');
  const blockHash = block.blob('blockHash');
  const entriesHash = block.blob('entriesHash');
  const previousBlockHash = block.blob('previousBlockHash', 0, HASH_LENGTH);
  const entriesHashList = block
    .list('entriesHashList')
    .map((hash, index) => readBlob(hash, `entriesHashList[${index}]`, context));
  const transactionInfo = block.struct('transactionInfo');
  checkTransactionInfo(transactionInfo);

  // Each revision must belong to this block and hash to its stored hash.
  const revisionHashes = readRevisionList(block).map((revisionValue, position) => {
    const revision = checkRevision(revisionValue, { position, blockAddress });
    if (!sameAddress(revision.blockAddress, blockAddress)) {
      throw new VerificationError(
        'BLOCK_ADDRESS_MISMATCH',
        `${context.subject}: revision of document ${JSON.stringify(revision.documentId)} at ` +
          `revisions[${position}] has blockAddress ${formatAddress(revision.blockAddress)}`,
        { blockAddress, documentId: revision.documentId },
      );
    }
    return revision.hash;
  });

  const expectedList = [ionHash(transactionInfo.value, 'transactionInfo', context)];
  const entryNames = ['the hash of transactionInfo'];
  const redactionInfo = block.optional('redactionInfo');
  if (redactionInfo !== undefined) {
    expectedList.push(ionHash(redactionInfo, 'redactionInfo', context));
    entryNames.push('the hash of redactionInfo');
  }
  if (revisionHashes.length > 0) {
    expectedList.push(combineList(revisionHashes));
    entryNames.push('the list root of the revision hashes');
  }
  if (entriesHashList.length !== expectedList.length) {
    throw new VerificationError(
      'ENTRIES_HASH_MISMATCH',
      `${context.subject}: expected ${expectedList.length} hashes in entriesHashList for ` +
        `${revisionHashes.length} revisions${redactionInfo === undefined ? '' : ' and a redactionInfo'}, ` +
        `got ${entriesHashList.length}`,
      { blockAddress },
    );
  }
  expectedList.forEach((expected, index) => {
    const stored = entriesHashList[index] as Uint8Array;
    if (!equalBytes(stored, expected)) {
      throw new VerificationError(
        'ENTRIES_HASH_MISMATCH',
        `${context.subject}: entriesHashList[${index}] ${toHex(stored)} does not match ` +
          `${entryNames[index]}, ${toHex(expected)}`,
        { blockAddress, expected: stored, actual: copyBytes(expected) },
      );
    }
  });
  const calculatedEntriesHash = combineList(entriesHashList);
  if (!equalBytes(entriesHash, calculatedEntriesHash)) {
    throw new VerificationError(
      'ENTRIES_HASH_MISMATCH',
      `${context.subject}: entriesHash ${toHex(entriesHash)} does not match the list root ` +
        `${toHex(calculatedEntriesHash)} of entriesHashList`,
      { blockAddress, expected: entriesHash, actual: copyBytes(calculatedEntriesHash) },
    );
  }

  // Block 0 starts the chain and every later block links to its predecessor.
  const isFirst = blockAddress.sequenceNo === 0;
  if (isFirst !== (previousBlockHash.length === 0)) {
    throw new VerificationError(
      'CHAIN_BROKEN',
      isFirst
        ? `${context.subject}: expected an empty previousBlockHash in block 0, got 32 bytes`
        : `${context.subject}: expected a 32-byte previousBlockHash after block 0, got 0 bytes`,
      { blockAddress },
    );
  }

  const calculatedBlockHash = combine(entriesHash, previousBlockHash);
  if (!equalBytes(blockHash, calculatedBlockHash)) {
    throw new VerificationError(
      'BLOCK_HASH_MISMATCH',
      `${context.subject}: blockHash ${toHex(blockHash)} does not match ` +
        `dot(entriesHash, previousBlockHash) ${toHex(calculatedBlockHash)}`,
      { blockAddress, expected: blockHash, actual: copyBytes(calculatedBlockHash) },
    );
  }
  return { blockAddress, blockHash, previousBlockHash, revisionCount: revisionHashes.length };
}

/**
 * Verifies a block: every revision's hash, entriesHashList, entriesHash and blockHash against
 * the block's content, then, when `proof` and `digest` are given, that folding the proof from
 * the block hash gives the digest.
 * @throws TypeError or RangeError for wrong argument types, a digest that is not 32 bytes, or
 *   only one of `proof` and `digest`; VerificationError with code MALFORMED_BLOCK,
 *   MALFORMED_REVISION, MALFORMED_PROOF, MALFORMED_TIP_ADDRESS, REVISION_HASH_MISMATCH,
 *   BLOCK_ADDRESS_MISMATCH, ENTRIES_HASH_MISMATCH, CHAIN_BROKEN, BLOCK_HASH_MISMATCH or
 *   PROOF_MISMATCH.
 */
export function verifyBlock(options: BlockProofOptions): VerifiedBlock {
  const input = checkOptions(options, 'options');
  if ((input.proof === undefined) !== (input.digest === undefined)) {
    throw new TypeError('options: expected both proof and digest, or neither');
  }
  if (input.tipAddress !== undefined && input.digest === undefined) {
    throw new TypeError('options: expected proof and digest with tipAddress');
  }
  const digest =
    input.digest === undefined ? undefined : checkBytes(input.digest, 'digest', HASH_LENGTH);
  const tip =
    input.tipAddress === undefined ? undefined : resolveTipAddress(input.tipAddress, 'tipAddress');
  const context = new ParseContext('MALFORMED_BLOCK', 'block');
  const block = checkBlock(loadOne(input.block, 'block', context), 'block');
  if (digest === undefined) return block;

  const subject = formatBlock(block.blockAddress);
  const details = { blockAddress: block.blockAddress };
  const proof = resolveProof(input.proof, subject, details);
  if (tip !== undefined) {
    checkCoveredByTip(block.blockAddress, tip, subject);
    const expected = inclusionProofLength(block.blockAddress.sequenceNo, tip.sequenceNo + 1);
    if (proof.length !== expected) {
      throw new VerificationError(
        'MALFORMED_PROOF',
        `${subject}: expected ${expected} hashes in the proof for a digest at tip ` +
          `${formatAddress(tip)}, got ${proof.length}`,
        details,
      );
    }
  }

  const calculated = foldHashes(block.blockHash, proof);
  if (!equalBytes(calculated, digest)) {
    throw new VerificationError(
      'PROOF_MISMATCH',
      `${subject}: the proof gives ${toHex(calculated)}, which does not match the digest ` +
        toHex(digest),
      { ...details, expected: copyBytes(digest), actual: copyBytes(calculated) },
    );
  }
  return block;
}
