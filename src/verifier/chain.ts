// The journal's hash chain: blocks in order from sequenceNo 0, each verified on its own and
// linked to its predecessor, with the Merkle digest over all block hashes.
import { checkCoveredByTip, formatAddress, formatBlock, resolveTipAddress } from './address.js';
import type { VerifiedBlock } from './block.js';
import { checkBlock } from './block.js';
import type { BlockAddress } from './errors.js';
import { VerificationError } from './errors.js';
import type { IonInput } from './ion.js';
import { ParseContext, loadOne } from './ion.js';
import { TreeHasher } from './merkle.js';
import {
  HASH_LENGTH,
  checkBytes,
  checkOptions,
  copyBytes,
  describeType,
  equalBytes,
  isBytes,
  toHex,
} from './utils.js';

/** Options of {@link verifyChain} and {@link verifyChainAsync}. */
export interface ChainOptions {
  /**
   * 32-byte digest from a trusted source. The Merkle tree hash over the block hashes up to
   * `tipAddress`, or over all blocks when `tipAddress` is absent, must equal it.
   */
  readonly digest?: Uint8Array;
  /**
   * Address of the digest's tip block, as an object or as Ion text. The chain must reach it,
   * and may continue past it.
   */
  readonly tipAddress?: BlockAddress | string;
}

/** Result of a successful chain verification. */
export interface ChainSummary {
  /** Number of blocks verified. */
  readonly blocks: number;
  /** Address of the last block. */
  readonly tipAddress: BlockAddress;
  /** Block hash of the last block. */
  readonly tipHash: Uint8Array;
  /** Merkle tree hash over all block hashes: the digest at the last block. */
  readonly digest: Uint8Array;
}

/** Verifies blocks one at a time, storing only the previous block and the tree's subtrees. */
class ChainVerifier {
  private readonly tree = new TreeHasher();
  private previous: VerifiedBlock | undefined;
  private readonly digest: Uint8Array | undefined;
  private readonly tip: BlockAddress | undefined;

  constructor(options: unknown) {
    const input = options === undefined ? {} : checkOptions(options, 'options');
    this.digest =
      input.digest === undefined ? undefined : checkBytes(input.digest, 'digest', HASH_LENGTH);
    this.tip =
      input.tipAddress === undefined
        ? undefined
        : resolveTipAddress(input.tipAddress, 'tipAddress');
  }

  add(input: unknown): void {
    const position = this.tree.size;
    const subject = `block at chain position ${position}`;
    const context = new ParseContext('MALFORMED_BLOCK', subject);
    const block = checkBlock(loadOne(input, `blocks[${position}]`, context), subject);
    this.checkLink(block);
    this.tree.add(block.blockHash);
    this.previous = block;
    if (this.tip !== undefined && block.blockAddress.sequenceNo === this.tip.sequenceNo) {
      this.checkDigest(block);
    }
  }

  finish(): ChainSummary {
    const last = this.previous;
    if (last === undefined) {
      throw new VerificationError('EMPTY_CHAIN', 'chain: expected at least 1 block, got 0');
    }
    if (this.tip !== undefined && last.blockAddress.sequenceNo < this.tip.sequenceNo) {
      throw new VerificationError(
        'BLOCK_ADDRESS_MISMATCH',
        `chain: the last block ${formatAddress(last.blockAddress)} comes before the digest tip ` +
          formatAddress(this.tip),
        { blockAddress: last.blockAddress },
      );
    }
    if (this.tip === undefined) this.checkDigest(last);
    return {
      blocks: this.tree.size,
      tipAddress: last.blockAddress,
      tipHash: copyBytes(last.blockHash),
      digest: copyBytes(this.tree.root()),
    };
  }

  private checkLink(block: VerifiedBlock): void {
    const name = formatBlock(block.blockAddress);
    const { strandId, sequenceNo } = block.blockAddress;
    const details = { blockAddress: block.blockAddress };
    const previous = this.previous;
    if (previous === undefined) {
      if (sequenceNo !== 0) {
        throw new VerificationError(
          'CHAIN_BROKEN',
          `${name}: expected the chain to start at sequenceNo 0, got ${sequenceNo}`,
          details,
        );
      }
      if (this.tip !== undefined) checkCoveredByTip(block.blockAddress, this.tip, name);
      return;
    }
    if (strandId !== previous.blockAddress.strandId) {
      throw new VerificationError(
        'CHAIN_BROKEN',
        `${name}: expected strandId ${JSON.stringify(previous.blockAddress.strandId)} of the ` +
          `previous block, got ${JSON.stringify(strandId)}`,
        details,
      );
    }
    const expectedSequenceNo = previous.blockAddress.sequenceNo + 1;
    if (sequenceNo !== expectedSequenceNo) {
      throw new VerificationError(
        'CHAIN_BROKEN',
        `${name}: expected sequenceNo ${expectedSequenceNo} after ` +
          `${formatBlock(previous.blockAddress)}, got ${sequenceNo}`,
        details,
      );
    }
    if (!equalBytes(block.previousBlockHash, previous.blockHash)) {
      throw new VerificationError(
        'CHAIN_BROKEN',
        `${name}: previousBlockHash ${toHex(block.previousBlockHash)} does not match blockHash ` +
          `${toHex(previous.blockHash)} of ${formatBlock(previous.blockAddress)}`,
        { ...details, expected: copyBytes(previous.blockHash), actual: block.previousBlockHash },
      );
    }
  }

  /** Compares the tree hash over the blocks so far, ending at `block`, with the digest. */
  private checkDigest(block: VerifiedBlock): void {
    if (this.digest === undefined) return;
    const root = this.tree.root();
    if (!equalBytes(root, this.digest)) {
      throw new VerificationError(
        'DIGEST_MISMATCH',
        `chain: the Merkle tree hash ${toHex(root)} over blocks 0 to ` +
          `${block.blockAddress.sequenceNo} does not match the digest ${toHex(this.digest)}`,
        {
          blockAddress: block.blockAddress,
          expected: copyBytes(this.digest),
          actual: copyBytes(root),
        },
      );
    }
  }
}

function checkBlockSource(blocks: unknown, asynchronous: boolean): void {
  const isIterable =
    typeof blocks === 'object' &&
    blocks !== null &&
    (typeof (blocks as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      (asynchronous &&
        typeof (blocks as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'));
  // Ion text and binary Ion are iterable too, but over characters and bytes, not blocks.
  if (!isIterable || isBytes(blocks)) {
    throw new TypeError(
      `blocks: expected an ${asynchronous ? '(async) ' : ''}iterable of blocks, got ` +
        `${describeType(blocks)}. Split a journal export into blocks with loadAll from ion-js.`,
    );
  }
}

/**
 * Verifies a journal's hash chain. Each block must pass the checks of `verifyBlock`, the blocks
 * must come in order from sequenceNo 0 on one strand, and each `previousBlockHash` must equal
 * the prior block's `blockHash`. Memory use does not grow with the number of blocks.
 * @param blocks - blocks as Ion text, binary Ion or ion-js dom values, such as the values that
 *   `loadAll` from ion-js returns for a journal export
 * @throws TypeError or RangeError for wrong argument types or a digest that is not 32 bytes;
 *   VerificationError naming the first block that fails, with code EMPTY_CHAIN, CHAIN_BROKEN,
 *   DIGEST_MISMATCH, BLOCK_ADDRESS_MISMATCH or a code of `verifyBlock`.
 */
export function verifyChain(blocks: Iterable<IonInput>, options?: ChainOptions): ChainSummary {
  checkBlockSource(blocks, false);
  const verifier = new ChainVerifier(options);
  for (const block of blocks) verifier.add(block);
  return verifier.finish();
}

/**
 * Verifies a journal's hash chain like {@link verifyChain}, reading blocks from an async
 * iterable such as a stream of parsed export files.
 */
export async function verifyChainAsync(
  blocks: AsyncIterable<IonInput> | Iterable<IonInput>,
  options?: ChainOptions,
): Promise<ChainSummary> {
  checkBlockSource(blocks, true);
  const verifier = new ChainVerifier(options);
  for await (const block of blocks) verifier.add(block);
  return verifier.finish();
}
