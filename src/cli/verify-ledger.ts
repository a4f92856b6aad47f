import type { dom } from 'ion-js';
import type { Ledger } from '../engine/index.js';
import { dot, verifyChainAsync, type ChainSummary } from '../verifier/index.js';

export interface LedgerVerification extends ChainSummary {
  /** The digest the ledger reported for the same tip. */
  ledgerDigest: Uint8Array;
  /** Stored block-tree nodes checked against the verified block hashes. */
  treeNodes: number;
}

/** Raised when a stored block-tree node differs from the one the verified blocks give. */
export class TreeNodeMismatchError extends Error {
  constructor(
    readonly level: number,
    readonly index: number,
  ) {
    const first = index * 2 ** level;
    const last = (index + 1) * 2 ** level - 1;
    super(
      `block tree node at level ${level}, index ${index} (over blocks ${first} to ${last}) does not match the blocks it covers`,
    );
    this.name = 'TreeNodeMismatchError';
  }
}

/**
 * Verify a ledger's whole journal with the standalone verifier: every block's
 * hashes from its content, the hash chain, and the Merkle digest over all
 * block hashes against the digest the ledger reports. Then every stored node
 * of the block tree is recomputed from the verified block hashes, since
 * proofs for older blocks read nodes that the current digest does not.
 *
 * Throws a `VerificationError`, `JournalIntegrityError` or
 * `TreeNodeMismatchError` naming the first bad block or node.
 */
export async function verifyLedger(ledger: Ledger): Promise<LedgerVerification> {
  const { digest, tipAddress } = await ledger.digest();
  const tree = new TreeNodeCheck(ledger);
  const summary = await verifyChainAsync(
    tree.collect(ledger.exportBlocks(0, tipAddress.sequenceNo)),
    {
      digest,
      tipAddress,
    },
  );
  // The chain is verified, so the collected block hashes are trusted now.
  const treeNodes = await tree.check();
  return { ...summary, ledgerDigest: digest, treeNodes };
}

/** Recomputes the complete subtrees of the block tree and compares them with the stored ones. */
class TreeNodeCheck {
  readonly #ledger: Ledger;
  readonly #blockHashes: Uint8Array[] = [];

  constructor(ledger: Ledger) {
    this.#ledger = ledger;
  }

  async *collect(blocks: AsyncIterable<dom.Value>): AsyncGenerator<dom.Value> {
    for await (const block of blocks) {
      const hash = block.get('blockHash')?.uInt8ArrayValue();
      if (hash !== null && hash !== undefined) this.#blockHashes.push(hash);
      yield block;
    }
  }

  async check(): Promise<number> {
    let checked = 0;
    let level = this.#blockHashes;
    for (let height = 1; level.length >= 2; height++) {
      const parents: Uint8Array[] = [];
      for (let i = 0; i + 1 < level.length; i += 2) parents.push(dot(level[i]!, level[i + 1]!));
      await this.#compare(height, parents);
      checked += parents.length;
      level = parents;
    }
    return checked;
  }

  async #compare(level: number, expected: Uint8Array[]): Promise<void> {
    const chunk = 1_000;
    for (let start = 0; start < expected.length; start += chunk) {
      const refs = expected
        .slice(start, start + chunk)
        .map((_, offset) => ({ level, index: start + offset }));
      const stored = await this.#ledger.store.getMerkleNodes(this.#ledger.id, refs);
      stored.forEach((hash, offset) => {
        if (hash === undefined || !Buffer.from(hash).equals(expected[start + offset]!)) {
          throw new TreeNodeMismatchError(level, start + offset);
        }
      });
    }
  }
}
