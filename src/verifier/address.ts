// Block addresses: formatting for messages, parsing a digest's tip address, and the checks that
// relate a block to the digest tip.
import type { BlockAddress } from './errors.js';
import { VerificationError } from './errors.js';
import { ParseContext, loadOne, readStruct } from './ion.js';
import { checkOptions, checkSafeInteger, describeType } from './utils.js';

/** Formats an address as Ion text, as QLDB shows it: {strandId: "…", sequenceNo: 5}. */
export function formatAddress(address: BlockAddress): string {
  return `{strandId: ${JSON.stringify(address.strandId)}, sequenceNo: ${address.sequenceNo}}`;
}

export function formatBlock(address: BlockAddress): string {
  return `block ${formatAddress(address)}`;
}

export function sameAddress(a: BlockAddress, b: BlockAddress): boolean {
  return a.strandId === b.strandId && a.sequenceNo === b.sequenceNo;
}

/**
 * Parses the Ion text of a digest tip address, such as the `DigestTipAddress.IonText` that
 * QLDB's GetDigest returns: `{strandId: "…", sequenceNo: 42}`. Other fields are ignored.
 * @throws TypeError when `ionText` is not a string; VerificationError with code
 *   MALFORMED_TIP_ADDRESS for invalid Ion or a missing or mistyped field.
 */
export function parseDigestTipAddress(ionText: string): BlockAddress {
  if (typeof ionText !== 'string') {
    throw new TypeError(`ionText: expected a string, got ${describeType(ionText)}`);
  }
  const context = new ParseContext('MALFORMED_TIP_ADDRESS', 'digest tip address');
  const struct = readStruct(loadOne(ionText, 'ionText', context), '', context);
  return { strandId: struct.string('strandId'), sequenceNo: struct.safeInteger('sequenceNo') };
}

/** Accepts a tip address as an object or as Ion text. */
export function resolveTipAddress(value: unknown, name: string): BlockAddress {
  if (typeof value === 'string') return parseDigestTipAddress(value);
  const address = checkOptions(value, name);
  if (typeof address.strandId !== 'string') {
    throw new TypeError(
      `${name}.strandId: expected a string, got ${describeType(address.strandId)}`,
    );
  }
  const sequenceNo = checkSafeInteger(address.sequenceNo, `${name}.sequenceNo`);
  return { strandId: address.strandId, sequenceNo };
}

/**
 * Checks that the digest at `tip` can cover `block`: same strand, and the block at or before
 * the tip.
 * @throws VerificationError with code BLOCK_ADDRESS_MISMATCH.
 */
export function checkCoveredByTip(
  block: BlockAddress,
  tip: BlockAddress,
  subject: string,
  documentId?: string,
): void {
  if (block.strandId !== tip.strandId) {
    throw new VerificationError(
      'BLOCK_ADDRESS_MISMATCH',
      `${subject}: strandId ${JSON.stringify(block.strandId)} differs from the digest tip ` +
        `${formatAddress(tip)}`,
      { blockAddress: block, documentId },
    );
  }
  if (block.sequenceNo > tip.sequenceNo) {
    throw new VerificationError(
      'BLOCK_ADDRESS_MISMATCH',
      `${subject}: the block comes after the digest tip ${formatAddress(tip)}, so the digest ` +
        'cannot cover it',
      { blockAddress: block, documentId },
    );
  }
}
