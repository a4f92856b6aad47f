import type { Ledger } from '../engine/index.js';
import { verifyChainAsync, type ChainSummary } from '../verifier/index.js';

export interface LedgerVerification extends ChainSummary {
  /** The digest the ledger reported for the same tip. */
  ledgerDigest: Uint8Array;
}

/**
 * Verify a ledger's whole journal with the standalone verifier: every block's
 * hashes from its content, the hash chain, and the Merkle digest over all
 * block hashes against the digest the ledger itself reports. Throws a
 * `VerificationError` or `JournalIntegrityError` naming the first bad block.
 */
export async function verifyLedger(ledger: Ledger): Promise<LedgerVerification> {
  const { digest, tipAddress } = await ledger.digest();
  const summary = await verifyChainAsync(ledger.exportBlocks(0, tipAddress.sequenceNo), {
    digest,
    tipAddress,
  });
  return { ...summary, ledgerDigest: digest };
}
